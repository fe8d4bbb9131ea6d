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
/// last batch rolled back) drops the cache and reads afresh. Used under the partition's advisory
/// lock, so one batch at a time touches it.
/// </summary>
public sealed class TimelineCache(int partition, int capacity = 200_000)
{
    public const string Table = $"{MeteringStore.Schema}.ingest_writer";

    readonly Guid _writer = Guid.NewGuid();
    readonly Dictionary<string, EndpointTimeline> _timelines = new(StringComparer.Ordinal);
    long _generation = -1;

    /// <summary>
    /// The timelines of <paramref name="endpointIds"/> that exist, together with every other cached
    /// one (the decider adds the timelines it creates to the same map). Queues the generation move
    /// on <paramref name="session"/>, so it commits or rolls back with the batch.
    /// </summary>
    public async Task<Dictionary<string, EndpointTimeline>> LoadAsync(IDocumentSession session, IReadOnlyList<string> endpointIds, CancellationToken ct)
    {
        var (writer, generation) = await LastWriterAsync((NpgsqlConnection)session.Connection!, partition, ct);
        if (writer != _writer || generation != _generation || _timelines.Count >= capacity) _timelines.Clear();

        var missing = endpointIds.Where(id => !_timelines.ContainsKey(id)).ToArray();
        if (missing.Length > 0)
            foreach (var timeline in await session.LoadManyAsync<EndpointTimeline>(ct, missing))
                _timelines[timeline.Id] = timeline;

        _generation = generation + 1;
        MoveWriter(session, partition, _writer, _generation);
        return _timelines;
    }

    /// <summary>
    /// The timelines of a batch that spans partitions (an HTTP post), read afresh. Every partition it
    /// touches gets a writer no cache knows, so each partition's cache reads again after it.
    /// </summary>
    public static async Task<Dictionary<string, EndpointTimeline>> LoadUncachedAsync(IDocumentSession session, IReadOnlyList<string> endpointIds, IEnumerable<int> partitions, CancellationToken ct)
    {
        var timelines = new Dictionary<string, EndpointTimeline>(StringComparer.Ordinal);
        if (endpointIds.Count > 0)
            foreach (var timeline in await session.LoadManyAsync<EndpointTimeline>(ct, endpointIds.ToArray()))
                timelines[timeline.Id] = timeline;
        var writer = Guid.NewGuid();
        foreach (var p in partitions) MoveWriter(session, p, writer, 0);
        return timelines;
    }

    static void MoveWriter(IDocumentSession session, int partition, Guid writer, long generation) =>
        session.QueueSqlCommand($"insert into {Table} (id, writer, generation) values (?, ?, ?) on conflict (id) do update set writer = excluded.writer, generation = excluded.generation",
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
