using Marten;
using Npgsql;
using Weasel.Postgresql.Tables;

namespace Billing.Metering.Ingestion;

/// <summary>
/// The endpoint timelines of one ingest partition that this process has read or decided, kept
/// between batches so that a batch loads only the endpoints it has not seen yet (traffic spread over
/// thousands of endpoints made every batch load hundreds of them). The cache is trusted only while
/// this process is the partition's last writer: every batch moves the partition's row of
/// <c>billing.ingest_writer</c> to (this process, next generation) inside its own transaction. A
/// batch that finds the row anywhere else (another node decided the partition, or this process's
/// last batch rolled back) drops the cache and reads afresh. Used under the partition's lock
/// (<see cref="PartitionLocks"/>), so one batch at a time touches it. Fed only by
/// <see cref="Remember"/>, with the timelines a decision returned.
/// </summary>
public sealed class TimelineCache(int partition, int capacity = 200_000)
{
    public const string Table = $"{MeteringStore.Schema}.ingest_writer";

    readonly Guid _writer = Guid.NewGuid();
    readonly Dictionary<string, EndpointTimeline> _timelines = new(StringComparer.Ordinal);
    long _generation = -1;
    long _loaded = -1;

    /// <summary>The timelines of <paramref name="endpointIds"/> that exist (with every other cached one).</summary>
    public async Task<IReadOnlyDictionary<string, EndpointTimeline>> LoadAsync(IDocumentSession session, IReadOnlyList<string> endpointIds, CancellationToken ct)
    {
        var (writer, generation) = await LastWriterAsync((NpgsqlConnection)session.Connection!, partition, ct);
        if (writer != _writer || generation != _generation || _timelines.Count >= capacity) _timelines.Clear();
        _loaded = generation;

        var missing = endpointIds.Where(id => !_timelines.ContainsKey(id)).ToArray();
        if (missing.Length > 0)
            foreach (var timeline in await session.LoadManyAsync<EndpointTimeline>(ct, missing))
                _timelines[timeline.Id] = timeline;
        return _timelines;
    }

    /// <summary>
    /// Keeps the timelines a decision created or changed, and queues the move of the partition's
    /// writer row on <paramref name="ops"/>, so it commits or rolls back with the batch.
    /// </summary>
    public void Remember(IDocumentOperations ops, IReadOnlyDictionary<string, EndpointTimeline> changed)
    {
        foreach (var (id, timeline) in changed) _timelines[id] = timeline;
        _generation = _loaded + 1;
        MoveWriter(ops, partition, _writer, _generation);
    }

    /// <summary>The timelines of a batch that spans partitions (an HTTP post), read afresh.</summary>
    public static async Task<IReadOnlyDictionary<string, EndpointTimeline>> LoadUncachedAsync(IDocumentSession session, IReadOnlyList<string> endpointIds, CancellationToken ct)
    {
        var timelines = new Dictionary<string, EndpointTimeline>(StringComparer.Ordinal);
        if (endpointIds.Count > 0)
            foreach (var timeline in await session.LoadManyAsync<EndpointTimeline>(ct, endpointIds.ToArray()))
                timelines[timeline.Id] = timeline;
        return timelines;
    }

    /// <summary>After a batch that spans partitions: each gets a writer no cache knows, so each partition's cache reads again after it.</summary>
    public static void Forget(IDocumentOperations ops, IEnumerable<int> partitions)
    {
        var writer = Guid.NewGuid();
        foreach (var p in partitions) MoveWriter(ops, p, writer, 0);
    }

    static void MoveWriter(IDocumentOperations ops, int partition, Guid writer, long generation) =>
        ops.QueueSqlCommand($"insert into {Table} (id, writer, generation) values (?, ?, ?) on conflict (id) do update set writer = excluded.writer, generation = excluded.generation",
            partition, writer, generation);

    static async Task<(Guid Writer, long Generation)> LastWriterAsync(NpgsqlConnection connection, int partition, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"select writer, generation from {Table} where id = @id", connection);
        cmd.Parameters.AddWithValue("id", partition);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetGuid(0), reader.GetInt64(1)) : (Guid.Empty, 0);
    }

    public static Table Definition()
    {
        var t = new Table(Table);
        t.AddColumn<int>("id").AsPrimaryKey();
        t.AddColumn<Guid>("writer").NotNull();
        t.AddColumn<long>("generation").NotNull();
        return t;
    }
}

/// <summary>The timeline caches of every partition in this process.</summary>
public sealed class TimelineCaches(UsagePartitions partitions)
{
    readonly TimelineCache[] _caches = Enumerable.Range(0, partitions.Count).Select(p => new TimelineCache(p)).ToArray();

    public TimelineCache this[int partition] => _caches[partition];
}
