using Billing.Events;
using JasperFx.Events;
using Marten;
using Marten.Events.Projections;
using NodaTime;
using Weasel.Postgresql.Tables;

namespace Billing.Metering;

/// <summary>
/// Which traffic batches hold records of an endpoint on a day: rows (endpoint, day, stream key)
/// in billing.traffic_streams, projected inline from every <see cref="TrafficRecorded"/> batch.
/// Only read for an hour in which the endpoint's payer changed part-way, whose bytes are charged
/// record by record; without it, that one hour meant scanning every traffic batch ever stored.
/// </summary>
public partial class TrafficStreamIndex : EventProjection
{
    public const string Table = $"{MeteringStore.Schema}.traffic_streams";

    public void Project(IEvent<TrafficRecorded> e, IDocumentOperations ops)
    {
        var days = e.Data.Records.Select(r => (r.EndpointId, Day: r.At.InUtc().Date.ToDateOnly())).Distinct().ToList();
        ops.QueueSqlCommand($"insert into {Table} (endpoint_id, day, stream_key) select * from unnest(?, ?, ?) on conflict do nothing",
            days.Select(d => d.EndpointId).ToArray(), days.Select(d => d.Day).ToArray(), days.Select(_ => e.StreamKey!).ToArray());
    }

    public static Table Definition()
    {
        var t = new Table(Table);
        t.AddColumn("endpoint_id", "text").AsPrimaryKey();
        t.AddColumn("day", "date").AsPrimaryKey();
        t.AddColumn("stream_key", "text").AsPrimaryKey();
        return t;
    }

    /// <summary>The traffic records of several endpoints, each on its given days, read from the batches that hold them (two queries).</summary>
    public static async Task<Dictionary<string, IReadOnlyList<TrafficProcessed>>> RecordsAsync(IQuerySession session,
        IReadOnlyDictionary<string, IReadOnlyCollection<LocalDate>> daysByEndpoint, CancellationToken ct)
    {
        var pairs = daysByEndpoint.SelectMany(kv => kv.Value.Select(day => (Endpoint: kv.Key, Day: day.ToDateOnly()))).ToList();
        var keys = await session.AdvancedSql.QueryAsync<string>(
            $"select distinct stream_key from {Table} where (endpoint_id, day) in (select * from unnest(?, ?))", ct,
            pairs.Select(p => p.Endpoint).ToArray(), pairs.Select(p => p.Day).ToArray());
        var found = daysByEndpoint.Keys.ToDictionary(e => e, _ => new List<TrafficProcessed>(), StringComparer.Ordinal);
        if (keys.Count == 0) return found.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<TrafficProcessed>)kv.Value);
        var events = await session.Events.QueryAllRawEvents().Where(x => x.StreamKey!.IsOneOf(keys.ToArray())).ToListAsync(ct);
        foreach (var r in events.Select(x => x.Data).OfType<TrafficRecorded>().SelectMany(t => t.Records))
            if (found.TryGetValue(r.EndpointId, out var list) && daysByEndpoint[r.EndpointId].Contains(r.At.InUtc().Date)) list.Add(r);
        return found.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<TrafficProcessed>)kv.Value);
    }

    /// <summary>The traffic records of an endpoint on the given days, read from the batches that hold them.</summary>
    public static async Task<List<TrafficProcessed>> RecordsAsync(IQuerySession session, string endpointId, IReadOnlyCollection<LocalDate> days, CancellationToken ct)
    {
        var keys = await session.AdvancedSql.QueryAsync<string>(
            $"select distinct stream_key from {Table} where endpoint_id = ? and day = any(?)", ct,
            endpointId, days.Select(d => d.ToDateOnly()).ToArray());
        var events = await session.Events.QueryAllRawEvents().Where(x => x.StreamKey!.IsOneOf(keys.ToArray())).ToListAsync(ct);
        return events.Select(x => x.Data).OfType<TrafficRecorded>().SelectMany(t => t.Records)
            .Where(r => r.EndpointId == endpointId && days.Contains(r.At.InUtc().Date)).ToList();
    }
}
