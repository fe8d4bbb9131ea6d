using Npgsql;

namespace Billing.Metering.Ingestion;

/// <summary>
/// Each ingest partition is decided by one transaction at a time, across processes: decisions read
/// endpoint state that the partition's earlier batches wrote. A transaction-scoped advisory lock per
/// partition, taken in ascending order by a batch that spans several (an HTTP post), so two such
/// batches never wait on each other in a cycle.
/// </summary>
public static class PartitionLocks
{
    public const int LockClass = 0x6269_6C6C; // "bill"

    /// <summary>Begins deciding <paramref name="partitions"/> (ascending) in the connection's open transaction.</summary>
    public static async Task TakeAsync(NpgsqlConnection connection, IReadOnlyList<int> partitions, CancellationToken ct)
    {
        var locks = string.Concat(partitions.Select(p => $"select pg_advisory_xact_lock({LockClass}, {p}); "));
        // Index lookups only, for this transaction: record_ids grows by a batch at a time faster than
        // autovacuum analyses it, and on stale statistics the planner chose a sequential scan of every
        // id for each batch's dedupe lookup, slower with every batch (docs/performance.md).
        await using var cmd = new NpgsqlCommand($"{locks}set local enable_seqscan = off", connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Holds every partition's lock at session level (ascending, as ingest takes them), so that no
    /// usage transaction is in flight once it returns; <see cref="ReleaseAllAsync"/> lets them go.
    /// </summary>
    public static async Task HoldAllAsync(NpgsqlConnection connection, int partitions, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(string.Concat(Enumerable.Range(0, partitions).Select(p => $"select pg_advisory_lock({LockClass}, {p}); ")), connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public static async Task ReleaseAllAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("select pg_advisory_unlock_all()", connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
