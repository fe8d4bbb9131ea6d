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
/// retried batch is never lost nor counted twice. Batches are serialised across processes by a
/// transaction-scoped advisory lock: decisions read endpoint state that earlier batches write.
/// </summary>
public sealed class UsageIngestor(IngestionOptions options, IClock clock)
{
    const long IngestLock = 0x6269_6C6C_696E_6701; // "billing" + 1
    readonly TimelineCache _timelines = new();

    public async Task<BatchPlan> IngestAsync(IDocumentSession session, IReadOnlyList<IncomingRecord> records, Guid? importId, CancellationToken ct)
    {
        var now = clock.GetCurrentInstant();
        var batch = ParsedBatch.Parse(records, new ParseContext(now, options.KnownRegions, options.OldestAccepted(now)));

        await session.BeginTransactionAsync(ct);
        var connection = (NpgsqlConnection)session.Connection!;
        // Index lookups only, for this transaction: record_ids grows by a batch at a time faster
        // than autovacuum analyses it, and on stale statistics the planner chose a sequential scan
        // of every id for each batch's dedupe lookup (seen with auto_explain: 23 ms a batch at
        // 250k ids, growing with the table).
        await Execute(connection, $"select pg_advisory_xact_lock({IngestLock}); set local enable_seqscan = off", ct);

        var fingerprints = await KnownFingerprints(connection, batch.RecordIds, ct);
        var timelines = await _timelines.LoadAsync(session, batch.EndpointIds, ct);
        var opened = (await session.LoadManyAsync<AccountProfile>(ct, batch.AccountIds)).Select(a => a.Id).ToHashSet();

        var plan = BatchDecider.Decide(batch, now, options.RetryWindow, fingerprints, timelines, opened);

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
