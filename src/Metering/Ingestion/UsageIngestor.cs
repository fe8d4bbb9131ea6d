using Billing.Events;
using Billing.Metering.Accounts;
using Marten;
using NodaTime;
using Npgsql;
using NpgsqlTypes;

namespace Billing.Metering.Ingestion;

/// <summary>Ingestion settings: known regions (from the price book), how long a record may
/// wait for an event still in flight before it is dead-lettered, and the late window.</summary>
public sealed record IngestionOptions(IReadOnlySet<string> KnownRegions, Duration RetryWindow, LateWindow LateWindow)
{
    public static readonly Duration DefaultRetryWindow = Duration.FromMinutes(10);

    /// <summary>The start of the oldest period that still accepts traffic at <paramref name="now"/>.</summary>
    public Instant OldestAccepted(Instant now) => LateWindow.OldestOpen(now).Start;
}

/// <summary>
/// Writes one batch of records into the event store inside the caller's Marten session:
/// loads what the decision needs, lets <see cref="BatchDecider"/> decide, then appends events,
/// records the accepted ids and stores dead letters, all in the session's one transaction, so a
/// retried batch is never lost nor counted twice. Each ingest partition (<see cref="UsagePartitions"/>)
/// is decided by one transaction at a time, across processes, by a transaction-scoped advisory lock
/// on that partition: decisions read endpoint state that earlier batches of the partition wrote.
/// A batch of one partition (the bus's) keeps that partition's timelines cached; one that spans
/// partitions (an HTTP post) takes their locks in ascending order and reads afresh. Two partitions
/// that accept the same id at once collide on record_ids' primary key (23505, <see cref="IsIdCollision"/>):
/// the later transaction rolls back and, retried, finds the id taken.
/// </summary>
public sealed class UsageIngestor
{
    const int IngestLockClass = 0x6269_6C6C; // "bill"
    readonly IngestionOptions _options;
    readonly IClock _clock;
    readonly TimelineCache[] _timelines;

    public UsageIngestor(IngestionOptions options, IClock clock, UsagePartitions partitions)
    {
        _options = options;
        _clock = clock;
        Partitions = partitions;
        _timelines = Enumerable.Range(0, partitions.Count).Select(p => new TimelineCache(p)).ToArray();
    }

    public UsagePartitions Partitions { get; }

    /// <summary>Whether a failed save was two partitions accepting one record id at once (retry it: it decides again against the winner).</summary>
    public static bool IsIdCollision(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation, TableName: "record_ids" }) return true;
        return false;
    }

    public async Task<BatchPlan> IngestAsync(IDocumentSession session, IReadOnlyList<IncomingRecord> records, Guid? importId, CancellationToken ct)
    {
        var now = _clock.GetCurrentInstant();
        var batch = ParsedBatch.Parse(records, new ParseContext(now, _options.KnownRegions, _options.OldestAccepted(now)));
        var partitions = batch.EndpointIds.Concat(batch.AccountIds).Select(Partitions.Of).Distinct().Order().ToList();

        await session.BeginTransactionAsync(ct);
        var connection = (NpgsqlConnection)session.Connection!;
        // Index lookups only, for this transaction: record_ids grows by a batch at a time faster
        // than autovacuum analyses it, and on stale statistics the planner chose a sequential scan
        // of every id for each batch's dedupe lookup (seen with auto_explain: 23 ms a batch at
        // 250k ids, growing with the table).
        var locks = string.Concat(partitions.Select(p => $"select pg_advisory_xact_lock({IngestLockClass}, {p}); "));
        await Execute(connection, $"{locks}set local enable_seqscan = off", ct);

        var fingerprints = await KnownFingerprints(connection, batch.RecordIds, ct);
        var timelines = partitions.Count == 1 ? await _timelines[partitions[0]].LoadAsync(session, batch.EndpointIds, ct)
            : await TimelineCache.LoadUncachedAsync(session, batch.EndpointIds, partitions, ct);
        var opened = (await session.LoadManyAsync<AccountProfile>(ct, batch.AccountIds)).Select(a => a.Id).ToHashSet();

        var plan = BatchDecider.Decide(batch, now, _options.RetryWindow, fingerprints, timelines, opened);

        foreach (var (accountId, events) in plan.AccountEvents)
            if (plan.NewAccounts.Contains(accountId)) session.Events.StartStream<AccountProfile>(accountId, events);
            else session.Events.Append(accountId, events);
        foreach (var (endpointId, events) in plan.EndpointEvents)
            if (plan.NewEndpoints.Contains(endpointId)) session.Events.StartStream<EndpointTimeline>(endpointId, events);
            else session.Events.Append(endpointId, events);
        if (plan.TrafficByEndpoint.Count > 0)
            session.Events.StartStream($"traffic/{Guid.CreateVersion7()}",
                new TrafficRecorded(plan.TrafficByEndpoint.Values.SelectMany(r => r).ToList()));
        if (plan.DeadLetters.Count > 0) session.Store(plan.DeadLetters.ToArray());

        // Queued, not executed: they commit with the events in SaveChanges (which does nothing,
        // and commits nothing, for a session without queued work).
        if (plan.AcceptedIds.Count > 0)
            session.QueueSqlCommand($"insert into {MeteringStore.Schema}.record_ids (id, fingerprint) select * from unnest(?, ?)",
                plan.AcceptedIds.Select(a => a.Id).ToArray(), plan.AcceptedIds.Select(a => a.Fingerprint).ToArray());
        if (importId is { } id)
            session.QueueSqlCommand($"update {MeteringStore.Schema}.imports set accepted = accepted + ?, duplicates = duplicates + ?, rejected = rejected + ? where id = ?",
                (long)plan.Count(RecordStatus.Accepted), (long)plan.Count(RecordStatus.Duplicate), (long)plan.Count(RecordStatus.Rejected), id);
        return plan;
    }

    static async Task<Dictionary<string, byte[]>> KnownFingerprints(NpgsqlConnection connection, IReadOnlyList<string> ids, CancellationToken ct)
    {
        var known = new Dictionary<string, byte[]>();
        if (ids.Count == 0) return known;
        await using var cmd = new NpgsqlCommand($"select id, fingerprint from {MeteringStore.Schema}.record_ids where id = any(@ids)", connection);
        cmd.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = ids.ToArray() });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) known[reader.GetString(0)] = (byte[])reader[1];
        return known;
    }

    static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
