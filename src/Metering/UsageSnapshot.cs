using System.Data;
using Marten;
using Marten.Services;
using Npgsql;

namespace Billing.Metering;

/// <summary>
/// A read of metered facts that is exactly "every event up to <see cref="EventSequence"/>", so an
/// invoice priced from it can later be recomputed from the events (docs/provenance.md).
/// <list type="number">
/// <item>Every ingest partition's advisory lock is taken at session level, on a connection of its
/// own: appending usage events takes its partition's lock for the whole transaction
/// (<see cref="Ingestion.PartitionLocks"/>), so once we hold them all, no usage event is in flight.</item>
/// <item>Marten's session begins a REPEATABLE READ transaction and its first statement reads the
/// store's highest <c>seq_id</c>: PostgreSQL takes the snapshot at that first statement, so it holds
/// every usage event up to that position and none after it.</item>
/// <item>The locks are let go (ingest waited milliseconds) and every read of <see cref="Session"/>
/// sees that one snapshot, however long it takes and whatever is appended meanwhile.</item>
/// </list>
/// The session owns its connection and transaction (Marten starts both): a session built on a
/// connection handed in fails on its first raw command while Marten's connection tracing listens
/// (JasperFx/marten#3911; docs/operations.md).
/// Events that are not usage (invoices, PDFs) may still be in flight below the position; they change
/// no usage, so recomputing "up to the position" gives the same usage either way.
/// </summary>
public sealed class UsageSnapshot : IAsyncDisposable
{
    readonly IDocumentSession _session;

    UsageSnapshot(IDocumentSession session, long sequence) => (_session, EventSequence) = (session, sequence);

    /// <summary>The session reading the snapshot (no identity map: a close lets go of documents batch by batch).</summary>
    public IQuerySession Session => _session;

    /// <summary>The highest event sequence in the snapshot (0 for an empty store).</summary>
    public long EventSequence { get; }

    public static async Task<UsageSnapshot> OpenAsync(IDocumentStore store, int partitions, CancellationToken ct)
    {
        await using var locks = store.Storage.Database.CreateConnection();
        await locks.OpenAsync(ct);
        // Read only, never committed: a lightweight session because it is the one whose transaction can be begun explicitly.
        var session = store.LightweightSession(new SessionOptions { IsolationLevel = IsolationLevel.RepeatableRead });
        try
        {
            await Ingestion.PartitionLocks.HoldAllAsync(locks, partitions, ct);
            await session.BeginTransactionAsync(ct);
            await using var max = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {MeteringStore.Schema}.mt_events", session.Connection);
            return new UsageSnapshot(session, Convert.ToInt64(await max.ExecuteScalarAsync(ct)));
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
        finally
        {
            // The snapshot is taken (or failed): ingest may go on. Let go explicitly, since a pooled
            // connection keeps session-level locks until it is next reused.
            await Ingestion.PartitionLocks.ReleaseAllAsync(locks, CancellationToken.None);
        }
    }

    public ValueTask DisposeAsync() => _session.DisposeAsync();
}
