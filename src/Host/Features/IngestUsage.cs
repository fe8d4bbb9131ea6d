using System.Buffers.Binary;
using System.Text;
using Billing.Events;
using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Metering.Ingestion;
using Marten;
using NodaTime;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace Billing.Host.Features;

/// <summary>
/// A batch of usage records on the bus. Traffic arrives in the millions, so one message carries
/// many records (the import sends up to 1,000 a message); <see cref="ImportId"/> ties it to an
/// import that waits for its records to be decided. <see cref="Partition"/> routes it
/// (<see cref="BillingHost.IngestQueue"/>): every batch of a partition is decided on one node, one
/// at a time. An HTTP post is one batch that may span partitions, decided in place.
/// </summary>
public sealed record IngestBatch(Guid? ImportId, IReadOnlyList<IncomingRecord> Records, int Partition = 0) : ISerializable
{
    /// <summary>The records as batches of their partitions.</summary>
    public static IEnumerable<IngestBatch> For(UsagePartitions partitions, Guid? importId, IReadOnlyList<IncomingRecord> records) =>
        partitions.Split(records).Select(g => new IngestBatch(importId, g.Records, g.Partition));

    // On the bus as bytes rather than JSON: each record's text is carried as it came (UTF-8), not
    // escaped into a JSON string that the receiver unescapes before parsing it again.
    const byte Version = 1;
    static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    public byte[] Write()
    {
        using var stream = new MemoryStream(64 + Records.Count * 256);
        using var writer = new BinaryWriter(stream, StrictUtf8);
        writer.Write(Version);
        writer.Write(ImportId is not null);
        if (ImportId is { } id) writer.Write(id.ToByteArray());
        writer.Write(Partition);
        writer.Write(Records.Count);
        foreach (var r in Records)
        {
            var (seconds, nanos) = (r.FirstSeenAt.ToUnixTimeSeconds(), (r.FirstSeenAt - Instant.FromUnixTimeSeconds(r.FirstSeenAt.ToUnixTimeSeconds())).ToInt64Nanoseconds());
            writer.Write(seconds);
            writer.Write((int)nanos);
            byte[] text;
            try { text = StrictUtf8.GetBytes(r.Json); writer.Write((byte)0); }
            catch (EncoderFallbackException) { text = Encoding.Unicode.GetBytes(r.Json); writer.Write((byte)1); } // a lone surrogate: kept as UTF-16
            writer.Write(text.Length);
            writer.Write(text);
        }
        return stream.ToArray();
    }

    public static object Read(byte[] bytes)
    {
        var span = bytes.AsSpan();
        if (span[0] != Version) throw new InvalidDataException($"an ingest batch of version {span[0]} cannot be read by version {Version}");
        var at = 1;
        Guid? importId = null;
        if (span[at++] != 0) { importId = new Guid(span.Slice(at, 16)); at += 16; }
        var partition = BinaryPrimitives.ReadInt32LittleEndian(span[at..]); at += 4;
        var count = BinaryPrimitives.ReadInt32LittleEndian(span[at..]); at += 4;
        var records = new IncomingRecord[count];
        for (var i = 0; i < count; i++)
        {
            var seconds = BinaryPrimitives.ReadInt64LittleEndian(span[at..]); at += 8;
            var nanos = BinaryPrimitives.ReadInt32LittleEndian(span[at..]); at += 4;
            var encoding = span[at++] == 0 ? Encoding.UTF8 : Encoding.Unicode;
            var length = BinaryPrimitives.ReadInt32LittleEndian(span[at..]); at += 4;
            records[i] = new IncomingRecord(encoding.GetString(span.Slice(at, length)), Instant.FromUnixTimeSeconds(seconds) + Duration.FromNanoseconds(nanos));
            at += length;
        }
        return new IngestBatch(importId, records, partition);
    }
}

/// <summary>What became of each record of a batch: the HTTP answer. On the bus nobody waits for it, so sent there it goes nowhere.</summary>
public sealed record IngestOutcome(IReadOnlyList<RecordOutcome> Outcomes) : ISendMyself
{
    public int Count(RecordStatus status) => Outcomes.Count(o => o.Status == status);

    public ValueTask ApplyAsync(IMessageContext context) => ValueTask.CompletedTask;
}

/// <summary>A batch's parsed records, the partitions they belong to (ascending) and who sent it (<see cref="Access.Actor"/>, relayed on the envelope).</summary>
public sealed record PartitionedBatch(ParsedBatch Parsed, IReadOnlyList<int> Partitions, string? SentBy = null);

/// <summary>
/// Decides and stores a batch of usage records, in one transaction: <see cref="Before"/> parses,
/// <see cref="LoadAsync"/> locks the batch's partitions and reads what the decision needs,
/// <see cref="Handle"/> decides (<see cref="BatchDecider"/>, pure) and returns the writes. Wolverine
/// commits them together with the retries of waiting records, which come back later as new batches.
/// </summary>
public static class IngestBatchHandler
{
    /// <summary>
    /// Another partition accepting the same id in the same instant rolls this batch back; decided
    /// again, the id is a duplicate or a duplicate-conflict. A store that fails is retried in place.
    /// </summary>
    public static void Configure(HandlerChain chain)
    {
        chain.OnException(RecordIdsTable.IsIdCollision).RetryTimes(5);
        StoreUnavailable.RetryInPlace(chain);
    }

    public static PartitionedBatch Before(IngestBatch batch, Envelope envelope, IngestionOptions options, UsagePartitions partitions, IClock clock)
    {
        var now = clock.GetCurrentInstant();
        var parsed = ParsedBatch.Parse(batch.Records, new ParseContext(now, options.KnownRegions, options.OldestAccepted(now)));
        return new PartitionedBatch(parsed, parsed.EndpointIds.Concat(parsed.AccountIds).Select(partitions.Of).Distinct().Order().ToList(), envelope.UserName);
    }

    public static async Task<IngestState> LoadAsync(PartitionedBatch batch, IDocumentSession session, TimelineCaches caches, CancellationToken ct)
    {
        var parsed = batch.Parsed;
        await session.BeginTransactionAsync(ct);
        Operations.BillingMetrics.StartBatch(session);
        var connection = (NpgsqlConnection)session.Connection!;
        await PartitionLocks.TakeAsync(connection, batch.Partitions, ct);
        var timelines = batch.Partitions.Count == 1 ? await caches[batch.Partitions[0]].LoadAsync(session, parsed.EndpointIds, ct)
            : await TimelineCache.LoadUncachedAsync(session, parsed.EndpointIds, ct);
        // Only a batch that changes the stays of stored endpoints reads their traffic (spec 8, v1.2): one query, two with some.
        var wanted = StoredTrafficQuery.WantedBy(parsed, timelines);
        var traffic = wanted.Count == 0 ? null : await StoredTrafficQuery.LoadAsync(session, wanted, ct);
        var unbilled = traffic?.Values.SelectMany(t => t.Unbilled).Select(t => t.Record.Id).Distinct(StringComparer.Ordinal).ToList() ?? [];
        var fingerprints = await RecordIdsTable.KnownAsync(connection, unbilled.Count == 0 ? parsed.RecordIds : parsed.RecordIds.Union(unbilled, StringComparer.Ordinal).ToList(), ct);
        var letters = unbilled.Count == 0 ? null : await StoredTrafficQuery.UnbilledLettersAsync(session, unbilled, ct);
        var opened = (await session.LoadManyAsync<AccountProfile>(ct, parsed.AccountIds)).Select(a => a.Id).ToHashSet(StringComparer.Ordinal);
        return new IngestState(fingerprints, timelines, opened, traffic, letters);
    }

    public static (IngestOutcome, IEnumerable<IMartenOp>, OutgoingMessages) Handle(IngestBatch batch, PartitionedBatch partitioned, IngestState state,
        IngestionOptions options, UsagePartitions partitions, TimelineCaches caches, BillingSettings settings, Budgets.BudgetWatch budgets)
    {
        var decision = BatchDecider.Decide(partitioned.Parsed, state, options.RetryWindow, partitioned.SentBy);
        var outgoing = new OutgoingMessages();
        foreach (var retry in IngestBatch.For(partitions, batch.ImportId, decision.Waiting))
            outgoing.Delay(retry, settings.RetryDelay);
        // Budgets are read after this commits, off this transaction: it carries one message naming what it touched (docs/spend.md).
        if (Budgets.SpendTouches.Of(decision, state.Timelines, budgets.Watches) is { Count: > 0 } touches)
            outgoing.Add(new Budgets.EvaluateBudgets(touches, partitioned.Parsed.Now));
        return (new IngestOutcome(decision.Outcomes), Writes(decision, batch.ImportId, partitioned.Partitions, caches), outgoing);
    }

    static IEnumerable<IMartenOp> Writes(BatchDecision decision, Guid? importId, IReadOnlyList<int> partitions, TimelineCaches caches)
    {
        foreach (var stream in decision.Streams)
            yield return stream switch
            {
                { IsNew: true, Aggregate: var t } when t == typeof(AccountProfile) => MartenOps.StartStream<AccountProfile>(stream.Key, stream.Events.ToArray()),
                { IsNew: true } => MartenOps.StartStream<EndpointTimeline>(stream.Key, stream.Events.ToArray()),
                _ => new AppendToStream(stream.Key, stream.Events.ToArray()),
            };
        if (decision.Traffic.Count > 0)
            yield return new StartStreamWithoutAggregate(TrafficStreams.KeyOf(Guid.CreateVersion7()), [new TrafficRecorded(decision.Traffic)]);
        // Stored traffic the batch's lifecycle records un-billed or billed again: a stream of its own, as a traffic batch.
        if (decision.StayMoves is { Count: > 0 } moves)
            yield return new StartStreamWithoutAggregate(TrafficStreams.KeyOf(Guid.CreateVersion7()), moves.ToArray());
        if (decision.DeadLetters.Count > 0) yield return MartenOps.StoreMany(decision.DeadLetters.ToArray());
        if (decision.FreedIds is { Count: > 0 } freed) yield return new FreeIds(freed);
        yield return new AcceptIds(decision.AcceptedIds);
        yield return Operations.BillingMetrics.Decided(decision.Outcomes);
        if (importId is { } id)
            yield return new CountDecided(id, decision.Count(RecordStatus.Accepted), decision.Count(RecordStatus.Duplicate), decision.Count(RecordStatus.Rejected));
        yield return new RememberTimelines(caches, partitions, decision.Timelines);
    }

    /// <summary>The accepted ids into the permanent dedupe table.</summary>
    sealed record AcceptIds(IReadOnlyList<(string Id, byte[] Fingerprint)> Ids) : IMartenOp
    {
        public void Execute(IDocumentSession session) => RecordIdsTable.Add(session, Ids);
    }

    /// <summary>The ids of traffic un-billed out of the dedupe table: no longer accepted, they are decided afresh if sent again.</summary>
    sealed record FreeIds(IReadOnlyList<(string Id, byte[] Fingerprint)> Ids) : IMartenOp
    {
        public void Execute(IDocumentSession session) => RecordIdsTable.Remove(session, Ids);
    }

    /// <summary>The batch's decisions counted towards its import.</summary>
    sealed record CountDecided(Guid ImportId, long Accepted, long Duplicates, long Rejected) : IMartenOp
    {
        public void Execute(IDocumentSession session) => ImportsTable.AddDecided(session, ImportId, Accepted, Duplicates, Rejected);
    }

    /// <summary>
    /// A batch of one partition keeps the timelines it decided in that partition's cache; one that
    /// spanned partitions makes each of their caches read afresh.
    /// </summary>
    sealed record RememberTimelines(TimelineCaches Caches, IReadOnlyList<int> Partitions, IReadOnlyDictionary<string, EndpointTimeline> Changed) : IMartenOp
    {
        public void Execute(IDocumentSession session)
        {
            if (Partitions.Count == 1) Caches[Partitions[0]].Remember(session, Changed);
            else TimelineCache.Forget(session, Partitions);
        }
    }
}

/// <summary>
/// POST /api/usage/events: a JSON array of up to 10,000 records, decided at once by the same handler
/// as a batch from the bus, and answered per record (accepted / duplicate / rejected with reason /
/// pending while it waits for an event in flight).
/// </summary>
public static class PostUsageEvents
{
    public const int MaxRecords = 10_000;

    public static void Map(WebApplication app) =>
        app.MapPost("/api/usage/events", Handle)
            .WithName("PostUsageEvents")
            .WithTags("usage")
            .WithSummary("Post a batch of usage records")
            .WithDescription("A JSON array of up to 10,000 usage records (docs/producers.md), decided at once and answered per record: accepted, duplicate, rejected with a code and reason, or pending while it waits for an event in flight.")
            .Accepts<UsageRecordInput[]>("application/json")
            .Produces<PostUsageAnswer>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status413PayloadTooLarge)
            .RequireAuthorization(Policies.PostUsage)
            .RequireRateLimiting(Policies.PostRate);

    static async Task<IResult> Handle(HttpRequest request, Caller caller, IMessageContext bus, IClock clock, BillingSettings settings, CancellationToken ct)
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
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // A chunked body has no length to refuse up front: Kestrel stops reading it at the limit.
            return Results.Json(new { error = Policies.TooLarge(settings) }, statusCode: StatusCodes.Status413PayloadTooLarge);
        }
        using (body)
        {
            if (body.RootElement.ValueKind != System.Text.Json.JsonValueKind.Array)
                return Results.BadRequest(new { error = "the body must be a JSON array of usage records" });
            var count = body.RootElement.GetArrayLength();
            if (count > MaxRecords)
                return Results.Json(new { error = $"the batch has {count} records; at most {MaxRecords} are accepted per request" }, statusCode: StatusCodes.Status413PayloadTooLarge);

            var (records, notUtf8) = ReadRecords(body.RootElement, clock.GetCurrentInstant());
            if (notUtf8 is not null) return Results.BadRequest(new { error = $"the body is not valid UTF-8 JSON: {notUtf8}" });
            // Relayed on the envelope into every event and dead letter the batch writes: who sent it.
            bus.UserName = caller.Actor.ToString();
            var outcome = await bus.InvokeAsync<IngestOutcome>(new IngestBatch(null, records), ct, TimeSpan.FromMinutes(2));
            return Results.Json(new PostUsageAnswer
            {
                Accepted = outcome.Count(RecordStatus.Accepted),
                Duplicates = outcome.Count(RecordStatus.Duplicate),
                Rejected = outcome.Count(RecordStatus.Rejected),
                Pending = outcome.Count(RecordStatus.Pending),
                Results = outcome.Outcomes.Select(o => new RecordResult
                {
                    Index = o.Index,
                    Id = o.RecordId,
                    Status = o.Status.ToString().ToLowerInvariant(),
                    Code = o.Reason?.Code,
                    Reason = o.Reason?.Message,
                }).ToList(),
            }, RecordJson.Options);
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
            catch (InvalidOperationException e) when (e.InnerException is DecoderFallbackException bad)
            {
                var bytes = string.Concat((bad.BytesUnknown ?? []).Select(b => $"[{b:X2}]"));
                return ([], $"record {records.Count} has the bytes {bytes} at byte {bad.Index} of its JSON text, which are not UTF-8");
            }
        }
        return (records, null);
    }
}
