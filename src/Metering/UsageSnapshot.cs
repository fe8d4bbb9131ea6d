using System.Data;
using Marten;
using Npgsql;

namespace Billing.Metering;

/// <summary>
/// A read of metered facts that is exactly "every event up to <see cref="EventSequence"/>", so an
/// invoice priced from it can later be recomputed from the events (docs/provenance.md).
/// <list type="number">
/// <item>Every ingest partition's advisory lock is taken at session level: appending usage events
/// takes its partition's lock for the whole transaction (<see cref="Ingestion.PartitionLocks"/>), so
/// once we hold them all, no usage event is in flight.</item>
/// <item>A REPEATABLE READ transaction starts and reads the store's highest <c>seq_id</c>: its
/// snapshot holds every usage event up to that position and none after it.</item>
/// <item>The locks are let go (ingest waited milliseconds) and every read of <see cref="Session"/>
/// sees that one snapshot, however long it takes and whatever is appended meanwhile.</item>
/// </list>
/// Events that are not usage (invoices, PDFs) may still be in flight below the position; they change
/// no usage, so recomputing "up to the position" gives the same usage either way.
/// </summary>
public sealed class UsageSnapshot : IAsyncDisposable
{
    readonly NpgsqlConnection _connection;
    readonly NpgsqlTransaction _transaction;

    UsageSnapshot(NpgsqlConnection connection, NpgsqlTransaction transaction, IQuerySession session, long sequence) =>
        (_connection, _transaction, Session, EventSequence) = (connection, transaction, session, sequence);

    /// <summary>The session reading the snapshot (no identity map: a close lets go of documents batch by batch).</summary>
    public IQuerySession Session { get; }

    /// <summary>The highest event sequence in the snapshot (0 for an empty store).</summary>
    public long EventSequence { get; }

    public static async Task<UsageSnapshot> OpenAsync(IDocumentStore store, int partitions, CancellationToken ct)
    {
        var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        try
        {
            await Ingestion.PartitionLocks.HoldAllAsync(connection, partitions, ct);
            var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
            long sequence;
            await using (var max = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {MeteringStore.Schema}.mt_events", connection, transaction))
                sequence = Convert.ToInt64(await max.ExecuteScalarAsync(ct));
            // The snapshot is taken: ingest may go on, none of it will be seen here.
            await Ingestion.PartitionLocks.ReleaseAllAsync(connection, ct);
            return new UsageSnapshot(connection, transaction, store.QuerySession(Marten.Services.SessionOptions.ForConnection(connection)), sequence);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Session.DisposeAsync();
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
