using System.Text;
using System.Text.Json;
using Billing.Events;
using Billing.Metering.Ingestion;
using Marten;
using NodaTime;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Runtime.Handlers;
using Wolverine.Runtime.Serialization;

namespace Billing.Host.Features;

/// <summary>
/// A message a producer published on the broker's durable queue <c>usage</c>: its body as sent
/// (spec 9: one usage record, or a JSON array of them, content type application/json). Nothing of
/// Wolverine is needed to send one. <see cref="ImportId"/> comes from the optional header
/// <c>billing-import-id</c>, which only `billing import` sets to follow its own records.
/// </summary>
public sealed record UsageMessage(byte[] Body, Guid? ImportId)
{
    public const string ImportIdHeader = "billing-import-id";

    /// <summary>
    /// The records of the body, each with its own original text. A JSON array gives one per element,
    /// whatever the element (the parser rejects one that is not a record, with its code). Anything
    /// else (one object, or text that is not JSON at all) is one record, so it is decided, or
    /// dead-lettered with its text, like any other. Null when the body is not UTF-8: there is no text
    /// to keep verbatim, see <see cref="NotUtf8"/>.
    /// </summary>
    public IReadOnlyList<IncomingRecord>? Records(Instant now)
    {
        // Checked without decoding: an array body (the usual one, hundreds of KB) is never turned into one string.
        if (!System.Text.Unicode.Utf8.IsValid(Body)) return null;
        try
        {
            using var doc = JsonDocument.Parse(Body, new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind == JsonValueKind.Array)
                return doc.RootElement.EnumerateArray().Select(e => new IncomingRecord(e.GetRawText(), now)).ToList();
        }
        catch (JsonException)
        {
            // Not JSON: the parser says so, for the record as a whole.
        }
        return [new IncomingRecord(Encoding.UTF8.GetString(Body), now)];
    }

    /// <summary>The dead letter of a body that is not UTF-8 (kept with its bytes shown, since it has no text).</summary>
    public DeadLetter NotUtf8(Instant now, string? sentBy = null) => new()
    {
        Id = Guid.CreateVersion7(),
        Code = "malformed-json",
        Reason = $"the message body ({Body.Length:N0} bytes) is not valid UTF-8, so not JSON",
        Json = Encoding.UTF8.GetString(Body),
        ArrivedAt = now,
        DeadLetteredAt = now,
        SentBy = sentBy,
    };

}

public static class UsageMessageHandler
{
    /// <summary>
    /// A store that went away puts the message back on the broker after a pause; past that, or on
    /// any other store error, it is parked on the broker's dead-letter queue with its body
    /// (<see cref="StoreUnavailable.RequeueOrPark"/>), never requeued forever.
    /// </summary>
    public static void Configure(HandlerChain chain) => StoreUnavailable.RequeueOrPark(chain);

    /// <summary>
    /// Hands the message's records to their ingest partitions, in one transaction: the partitions'
    /// batches are stored in the outbox (PostgreSQL) before the listener acknowledges the broker's
    /// message, and each is then decided exactly once by its partition. A process killed mid-message
    /// leaves the message on the broker; delivered again, the records already decided come back as
    /// duplicates. Nothing is requeued on the broker.
    /// </summary>
    public static OutgoingMessages Handle(UsageMessage message, IMessageContext context, IDocumentSession session, UsagePartitions partitions, IClock clock)
    {
        // A producer on the broker holds no API key: the broker authenticated it. An import publishing there names its CLI user.
        context.UserName ??= Access.Actor.Broker.ToString();
        var outgoing = new OutgoingMessages();
        var now = clock.GetCurrentInstant();
        if (message.Records(now) is not { } records)
        {
            session.Store(message.NotUtf8(now, context.UserName));
            return outgoing;
        }
        outgoing.AddRange(IngestBatch.For(partitions, message.ImportId, records));
        return outgoing;
    }
}

/// <summary>
/// The broker queue's serializer: the body's bytes as they are, in and out. Whatever a producer
/// sends reaches <see cref="UsageMessageHandler"/>, which decides it record by record, so no body can
/// fail deserialization and loop or block the queue.
/// </summary>
public sealed class RawUsageSerializer : IMessageSerializer
{
    public static readonly RawUsageSerializer Instance = new();

    public string ContentType => "application/json";

    public object ReadFromData(Type messageType, Envelope envelope) =>
        new UsageMessage(envelope.Data ?? [], ImportIdOf(envelope));

    public object ReadFromData(byte[] data) => new UsageMessage(data, null);

    public byte[] Write(Envelope envelope) => envelope.Message is UsageMessage m ? m.Body : envelope.Data ?? [];

    public byte[] WriteMessage(object message) => message is UsageMessage m ? m.Body : JsonSerializer.SerializeToUtf8Bytes(message);

    static Guid? ImportIdOf(Envelope envelope) =>
        envelope.Headers.TryGetValue(UsageMessage.ImportIdHeader, out var value) && Guid.TryParse(value, out var id) ? id : null;
}
