using Billing.Metering.Ingestion;
using Marten;
using NodaTime;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Runtime.Handlers;

namespace Billing.Host.Features;

/// <summary>
/// A batch of usage records of one ingest partition on the bus. Traffic arrives in the millions, so
/// one message carries many records (the import sends up to 1,000 a message); <see cref="ImportId"/>
/// ties it to an import that waits for its records to be decided. <see cref="Partition"/> routes it
/// (<see cref="BillingHost.IngestQueue"/>): every batch of a partition is decided on one node, one
/// at a time.
/// </summary>
public sealed record IngestBatch(Guid? ImportId, IReadOnlyList<IncomingRecord> Records, int Partition = 0)
{
    /// <summary>The records as batches of their partitions.</summary>
    public static IEnumerable<IngestBatch> For(UsagePartitions partitions, Guid? importId, IReadOnlyList<IncomingRecord> records) =>
        partitions.Split(records).Select(g => new IngestBatch(importId, g.Records, g.Partition));
}

public static class IngestBatchHandler
{
    /// <summary>
    /// Another partition accepting the same id in the same instant rolls this batch back; decided
    /// again, the id is a duplicate or a duplicate-conflict. A store that fails is retried in place.
    /// </summary>
    public static void Configure(HandlerChain chain)
    {
        chain.OnException(UsageIngestor.IsIdCollision).RetryTimes(5);
        chain.OnException<NpgsqlException>()
            .RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
    }

    /// <summary>
    /// Decides and stores the batch in one transaction (Wolverine commits the session together with
    /// any outgoing message); records waiting for an event in flight come back later as a new batch.
    /// </summary>
    public static async Task<OutgoingMessages> Handle(IngestBatch batch, IDocumentSession session, UsageIngestor ingestor, BillingSettings settings, CancellationToken ct)
    {
        var plan = await ingestor.IngestAsync(session, batch.Records, batch.ImportId, ct);
        var outgoing = new OutgoingMessages();
        foreach (var retry in IngestBatch.For(ingestor.Partitions, batch.ImportId, plan.Waiting))
            outgoing.Delay(retry, settings.RetryDelay);
        return outgoing;
    }
}

/// <summary>
/// POST /api/usage/events: a JSON array of up to 10,000 records, decided at once and answered per
/// record (accepted / duplicate / rejected with reason / pending while it waits for an event in flight).
/// </summary>
public static class PostUsageEvents
{
    public const int MaxRecords = 10_000;

    public static void Map(WebApplication app) => app.MapPost("/api/usage/events", Handle);

    static async Task<IResult> Handle(HttpRequest request, IDocumentStore store, UsageIngestor ingestor, IClock clock,
        BillingSettings settings, CancellationToken ct)
    {
        System.Text.Json.JsonDocument body;
        try
        {
            body = await System.Text.Json.JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
        }
        catch (System.Text.Json.JsonException e)
        {
            return Results.BadRequest(new { error = $"the body is not valid JSON: {e.Message}" });
        }
        using (body)
        {
            if (body.RootElement.ValueKind != System.Text.Json.JsonValueKind.Array)
                return Results.BadRequest(new { error = "the body must be a JSON array of usage records" });
            var count = body.RootElement.GetArrayLength();
            if (count > MaxRecords)
                return Results.Json(new { error = $"the batch has {count} records; at most {MaxRecords} are accepted per request" }, statusCode: StatusCodes.Status413PayloadTooLarge);

            var now = clock.GetCurrentInstant();
            var (records, notUtf8) = ReadRecords(body.RootElement, now);
            if (notUtf8 is not null) return Results.BadRequest(new { error = $"the body is not valid UTF-8 JSON: {notUtf8}" });
            var plan = await IngestAsync(store, ingestor, request.HttpContext.RequestServices, settings, records, ct);
            return Results.Json(new
            {
                accepted = plan.Count(RecordStatus.Accepted),
                duplicates = plan.Count(RecordStatus.Duplicate),
                rejected = plan.Count(RecordStatus.Rejected),
                pending = plan.Count(RecordStatus.Pending),
                results = plan.Outcomes.Select(o => new
                {
                    index = o.Index,
                    id = o.RecordId,
                    status = o.Status.ToString().ToLowerInvariant(),
                    code = o.Reason?.Code,
                    reason = o.Reason?.Message,
                }),
            }, Billing.Events.RecordJson.Options);
        }
    }

    /// <summary>
    /// One transaction for the whole post, tried again when another partition took one of its ids
    /// meanwhile. Each try has an outbox of its own, so the retries a failed try scheduled are not sent.
    /// </summary>
    static async Task<BatchPlan> IngestAsync(IDocumentStore store, UsageIngestor ingestor, IServiceProvider services,
        BillingSettings settings, List<IncomingRecord> records, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var scope = services.CreateAsyncScope();
                var outbox = scope.ServiceProvider.GetRequiredService<Wolverine.Marten.IMartenOutbox>();
                await using var session = store.LightweightSession();
                outbox.Enroll(session);
                var plan = await ingestor.IngestAsync(session, records, null, ct);
                foreach (var retry in IngestBatch.For(ingestor.Partitions, null, plan.Waiting))
                    await outbox.ScheduleAsync(retry, settings.RetryDelay);
                await session.SaveChangesAsync(ct);
                return plan;
            }
            catch (Exception e) when (attempt < 5 && UsageIngestor.IsIdCollision(e))
            {
                // Decided again below, against the id the other partition stored.
            }
        }
    }

    /// <summary>
    /// Each element's JSON text. JsonDocument does not check that the bytes inside strings are
    /// UTF-8 while parsing; transcoding them to a string does, and throws an InvalidOperationException
    /// wrapping a DecoderFallbackException. Such a body is unreadable as a whole (like malformed JSON),
    /// so the first offending record is named and nothing of the body is used.
    /// </summary>
    static (List<IncomingRecord> Records, string? NotUtf8) ReadRecords(System.Text.Json.JsonElement array, Instant now)
    {
        var records = new List<IncomingRecord>(array.GetArrayLength());
        foreach (var element in array.EnumerateArray())
        {
            try
            {
                records.Add(new IncomingRecord(element.GetRawText(), now));
            }
            catch (InvalidOperationException e) when (e.InnerException is System.Text.DecoderFallbackException bad)
            {
                var bytes = string.Concat((bad.BytesUnknown ?? []).Select(b => $"[{b:X2}]"));
                return ([], $"record {records.Count} has the bytes {bytes} at byte {bad.Index} of its JSON text, which are not UTF-8");
            }
        }
        return (records, null);
    }
}
