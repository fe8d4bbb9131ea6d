using Billing.Events;
using Marten;
using NodaTime;

namespace Billing.Metering;

/// <summary>
/// The traffic records themselves, read back from the event store. Only needed for hours in which
/// an endpoint's payer changed part-way, whose bytes are charged record by record. Each endpoint-day
/// document names the traffic batches (event sequence numbers) that hold its records
/// (<see cref="EndpointTrafficDay.Batches"/>), so only those batches are read.
/// </summary>
public static class RawTraffic
{
    /// <summary>The traffic records of several endpoints, each on its given days, read from <paramref name="batches"/> in one query.</summary>
    public static async Task<Dictionary<string, IReadOnlyList<TrafficProcessed>>> RecordsAsync(IQuerySession session,
        IReadOnlyDictionary<string, IReadOnlyCollection<LocalDate>> daysByEndpoint, IReadOnlyCollection<long> batches, CancellationToken ct)
    {
        var found = daysByEndpoint.Keys.ToDictionary(e => e, _ => new List<TrafficProcessed>(), StringComparer.Ordinal);
        if (batches.Count > 0)
        {
            var events = await session.Events.QueryAllRawEvents().Where(x => x.Sequence.IsOneOf(batches.ToArray())).ToListAsync(ct);
            foreach (var r in events.Select(x => x.Data).OfType<TrafficRecorded>().SelectMany(t => t.Records))
                if (found.TryGetValue(r.EndpointId, out var list) && daysByEndpoint[r.EndpointId].Contains(r.At.InUtc().Date)) list.Add(r);
        }
        return found.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<TrafficProcessed>)kv.Value);
    }
}
