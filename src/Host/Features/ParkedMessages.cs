using System.Text;
using System.Text.Json.Nodes;
using Billing.Host.Operations;
using Marten;
using RabbitMQ.Client;
using Wolverine;
using Wolverine.Persistence.Durability.DeadLetterManagement;
using Wolverine.Runtime;

namespace Billing.Host.Features;

/// <summary>
/// Messages Wolverine parked because handling them failed past their retries (not rejected records,
/// which are <see cref="DeadLetters"/>): `billing dead-letters list --messages` and
/// `billing dead-letters replay --messages [--id ID]`. They live in the message store's dead letters
/// (wolverine_dead_letters), sent again with Wolverine's own replay (IDeadLetters.ReplayAsync: a node's
/// durability agent moves them back to their queue), and on RabbitMQ in the broker's dead-letter queue
/// <c>wolverine-dead-letter-queue</c>, published again to the queue they died in.
/// </summary>
public static class ParkedMessages
{
    /// <summary>One parked message, as listed. <see cref="Where"/> is "store" or "broker"; <see cref="Id"/> is null for a broker message without an AMQP message id.</summary>
    public sealed record Parked(string? Id, string Where, string? MessageType, string? Queue, string? ExceptionType, string? ExceptionMessage, DateTimeOffset? SentAt, DateTimeOffset? FailedAt, bool Replayable);

    sealed class NoParkedMessage(string id) : CliException($"no parked message {id} (billing dead-letters list --messages lists them)");

    /// <summary>The newest <paramref name="limit"/> of the store's parked messages, then up to as many of the broker's (oldest first, as it holds them).</summary>
    public static async Task<IReadOnlyList<Parked>> ListAsync(IServiceProvider services, int limit, CancellationToken ct)
    {
        var runtime = services.GetRequiredService<IWolverineRuntime>();
        var results = await runtime.Storage.DeadLetters.QueryAsync(new DeadLetterEnvelopeQuery { PageSize = limit }, ct);
        var parked = results.Envelopes.OrderByDescending(e => e.FailedAt ?? e.SentAt)
            .Select(e => new Parked(e.Id.ToString(), "store", e.MessageType, e.ReceivedAt, e.ExceptionType, e.ExceptionMessage, e.SentAt, e.FailedAt ?? e.SentAt, e.Replayable))
            .ToList();
        if (services.GetRequiredService<BillingSettings>().RabbitMqUri is { } uri) parked.AddRange(await PeekBrokerAsync(uri, limit, ct));
        return parked;
    }

    public static JsonArray ToJson(IEnumerable<Parked> parked) => new(parked.Select(p => (JsonNode)new JsonObject
    {
        ["id"] = p.Id,
        ["where"] = p.Where,
        ["messageType"] = p.MessageType,
        ["queue"] = p.Queue,
        ["exceptionType"] = p.ExceptionType,
        ["exceptionMessage"] = p.ExceptionMessage,
        ["sentAt"] = p.SentAt?.ToUniversalTime().ToString("O"),
        ["failedAt"] = p.FailedAt?.ToUniversalTime().ToString("O"),
        ["replayable"] = p.Replayable,
    }).ToArray());

    public static string ToLine(Parked p) =>
        $"{p.Id ?? "-",-36}  {p.Where,-6} {p.FailedAt?.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ") ?? "-",-20}  {p.MessageType ?? "-",-40} {p.Queue ?? "-",-36} {p.ExceptionType ?? "-"}: {p.ExceptionMessage?.Split('\n', 2)[0].Trim()}{(p.Replayable ? "  (replaying)" : "")}";

    /// <summary>What a replay did: how many went back from the store and from the broker, and how many of the store's were still waiting for a node to move them.</summary>
    public sealed record Replayed(int Store, int Broker, int NotMovedYet);

    /// <summary>
    /// Sends one parked message (<paramref name="id"/>) or all of them again. The store's are marked
    /// replayable through Wolverine and this waits (up to <paramref name="wait"/>) until a node's
    /// durability agent has moved them back to their queues; the broker's are published again to their
    /// queue with their properties, each acknowledged on the dead-letter queue only once the broker
    /// confirmed the publish.
    /// </summary>
    public static async Task<Replayed> ReplayAsync(IServiceProvider services, string? id, TimeSpan wait, CancellationToken ct)
    {
        var runtime = services.GetRequiredService<IWolverineRuntime>();
        var letters = runtime.Storage.DeadLetters;
        Guid[] ids;
        if (id is not null && Guid.TryParse(id, out var one) && await letters.DeadLetterEnvelopeByIdAsync(one) is { } letter)
            ids = [letter.Id];
        else if (id is null)
            ids = [.. (await letters.QueryAsync(new DeadLetterEnvelopeQuery { PageSize = int.MaxValue }, ct)).Envelopes.Select(e => e.Id)];
        else
            ids = [];

        var broker = 0;
        if (services.GetRequiredService<BillingSettings>().RabbitMqUri is { } uri && (id is null || ids.Length == 0))
            broker = await RepublishBrokerAsync(uri, id, ct);
        if (id is not null && ids.Length == 0 && broker == 0) throw new NoParkedMessage(id);
        if (ids.Length == 0) return new Replayed(0, broker, 0);

        await letters.ReplayAsync(new DeadLetterEnvelopeQuery { MessageIds = ids }, ct);
        var left = ids.Length;
        var started = System.Diagnostics.Stopwatch.GetTimestamp(); // a wait, not an instant: the monotonic clock
        while ((left = await StillParkedAsync(services.GetRequiredService<IDocumentStore>(), ids, ct)) > 0 && System.Diagnostics.Stopwatch.GetElapsedTime(started) < wait)
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        return new Replayed(ids.Length, broker, left);
    }

    static async Task<int> StillParkedAsync(IDocumentStore store, Guid[] ids, CancellationToken ct)
    {
        var schema = ((DocumentStore)store).Options.DatabaseSchemaName;
        await using var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new Npgsql.NpgsqlCommand($"select count(*) from {schema}.wolverine_dead_letters where id = any(@ids)", connection);
        command.Parameters.AddWithValue("ids", ids);
        return Convert.ToInt32(await command.ExecuteScalarAsync(ct));
    }

    /// <summary>
    /// The broker's parked messages without taking them: each is got unacknowledged and the channel is
    /// closed afterwards, which puts them all back. The queue they died in and when come from RabbitMQ's x-death header.
    /// </summary>
    static async Task<IReadOnlyList<Parked>> PeekBrokerAsync(string uri, int limit, CancellationToken ct)
    {
        await using var connection = await BrokerQueues.Factory(uri, "billing dead-letters").CreateConnectionAsync(ct);
        var depth = (await BrokerQueues.DepthsAsync(uri, [BrokerQueues.DeadLetterQueue], ct)).GetValueOrDefault(BrokerQueues.DeadLetterQueue);
        var parked = new List<Parked>();
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: ct))
        {
            for (var n = 0; n < Math.Min(depth, limit); n++)
            {
                if (await channel.BasicGetAsync(BrokerQueues.DeadLetterQueue, autoAck: false, ct) is not { } message) break;
                var death = Death(message.BasicProperties.Headers);
                parked.Add(new Parked(message.BasicProperties.MessageId, "broker", message.BasicProperties.Type, death.Queue, "dead-lettered by RabbitMQ", death.Reason,
                    null, death.At, false));
            }
            await channel.CloseAsync(ct); // the unacknowledged messages go back to the queue
        }
        await connection.CloseAsync(ct);
        return parked;
    }

    /// <summary>
    /// Publishes the broker's parked messages (all, or the one whose AMQP message id is <paramref name="id"/>)
    /// again to the queue each died in, with its properties but without RabbitMQ's death headers.
    /// </summary>
    static async Task<int> RepublishBrokerAsync(string uri, string? id, CancellationToken ct)
    {
        await using var connection = await BrokerQueues.Factory(uri, "billing dead-letters").CreateConnectionAsync(ct);
        var depth = (await BrokerQueues.DepthsAsync(uri, [BrokerQueues.DeadLetterQueue], ct)).GetValueOrDefault(BrokerQueues.DeadLetterQueue);
        var replayed = 0;
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct))
        {
            for (var n = 0; n < depth; n++)
            {
                if (await channel.BasicGetAsync(BrokerQueues.DeadLetterQueue, autoAck: false, ct) is not { } message) break;
                var death = Death(message.BasicProperties.Headers);
                if ((id is not null && message.BasicProperties.MessageId != id) || death.Queue is null) continue; // left unacknowledged: back on the queue at the end
                var properties = new BasicProperties(message.BasicProperties);
                if (properties.Headers is { } headers)
                    foreach (var key in headers.Keys.Where(k => k.StartsWith("x-death", StringComparison.Ordinal) || k.StartsWith("x-first-death", StringComparison.Ordinal) || k.StartsWith("x-last-death", StringComparison.Ordinal)).ToList())
                        headers.Remove(key);
                await channel.BasicPublishAsync("", death.Queue, mandatory: false, properties, message.Body, ct);
                await channel.BasicAckAsync(message.DeliveryTag, multiple: false, ct);
                replayed++;
            }
            await channel.CloseAsync(ct);
        }
        await connection.CloseAsync(ct);
        return replayed;
    }

    /// <summary>The first entry of RabbitMQ's x-death header: the queue the message died in, why, and when.</summary>
    static (string? Queue, string? Reason, DateTimeOffset? At) Death(IDictionary<string, object?>? headers)
    {
        if (headers is null || !headers.TryGetValue("x-death", out var value) || value is not IList<object> { Count: > 0 } deaths || deaths[0] is not IDictionary<string, object?> first)
            return (null, null, null);
        static string? Text(IDictionary<string, object?> table, string key) => table.TryGetValue(key, out var v) ? v switch { byte[] bytes => Encoding.UTF8.GetString(bytes), null => null, _ => v.ToString() } : null;
        DateTimeOffset? at = first.TryGetValue("time", out var time) && time is AmqpTimestamp t ? DateTimeOffset.FromUnixTimeSeconds(t.UnixTime) : null;
        return (Text(first, "queue"), Text(first, "reason"), at);
    }
}
