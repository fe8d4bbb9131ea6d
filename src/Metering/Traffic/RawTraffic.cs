using Billing.Events;
using Marten;
using NodaTime;

namespace Billing.Metering;

/// <summary>
/// The traffic records themselves, read back from the event store. Only needed for hours in which an
/// endpoint's payer changed part-way, whose bytes are charged record by record. Each hour's row in
/// <see cref="TrafficHoursTable"/> names the batches that hold its records, so only those are read, and
/// the un-billings and re-billings of those hours among them (<see cref="TrafficLedger"/>).
/// </summary>
public static class RawTraffic
{
    /// <summary>The traffic records of the given endpoints' hours, per endpoint, in one query for the batches and one for their events.</summary>
    public static async Task<Dictionary<string, IReadOnlyList<TrafficProcessed>>> RecordsAsync(IQuerySession session,
        IReadOnlyDictionary<string, IReadOnlySet<Instant>> hoursByEndpoint, CancellationToken ct)
    {
        var found = hoursByEndpoint.Keys.ToDictionary(e => e, _ => new List<TrafficProcessed>(), StringComparer.Ordinal);
        var hours = hoursByEndpoint.SelectMany(kv => kv.Value.Select(h => (kv.Key, h))).ToList();
        var batches = await TrafficHoursTable.BatchesOfAsync(session, hours, ct);
        if (batches.Count > 0)
        {
            var keys = batches.Select(TrafficStreams.KeyOf).ToArray();
            var events = await session.Events.QueryAllRawEvents().Where(x => x.StreamKey.IsOneOf(keys)).ToListAsync(ct);
            // Net of un-billings: the records billed now (TrafficLedger).
            foreach (var r in TrafficLedger.Billed(events.Select(x => x.Data)))
                if (found.TryGetValue(r.EndpointId, out var list) && hoursByEndpoint[r.EndpointId].Contains(EndpointHours.FloorToHour(r.At))) list.Add(r);
        }
        return found.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<TrafficProcessed>)kv.Value);
    }
}
