using Billing.Events;
using Marten;
using NodaTime;

namespace Billing.Metering;

/// <summary>
/// The traffic records themselves, read back from the event store. Only needed for an hour in
/// which an endpoint's payer changed part-way, whose bytes are charged record by record. The
/// endpoint's day documents name the traffic batches (event sequence numbers) that hold its
/// records, so only those batches are read.
/// </summary>
public static class RawTraffic
{
    /// <summary>The traffic records of an endpoint on the given days.</summary>
    public static async Task<List<TrafficProcessed>> RecordsAsync(IQuerySession session, string endpointId, IReadOnlyCollection<LocalDate> days, CancellationToken ct)
    {
        var documents = await session.LoadManyAsync<EndpointTrafficDay>(ct, days.Select(d => EndpointTrafficDay.IdOf(endpointId, d)));
        var batches = documents.SelectMany(d => d.Batches).Distinct().ToArray();
        if (batches.Length == 0) return [];
        var events = await session.Events.QueryAllRawEvents().Where(x => x.Sequence.IsOneOf(batches)).ToListAsync(ct);
        return events.Select(x => x.Data).OfType<TrafficRecorded>().SelectMany(t => t.Records)
            .Where(r => r.EndpointId == endpointId && days.Contains(r.At.InUtc().Date)).ToList();
    }
}
