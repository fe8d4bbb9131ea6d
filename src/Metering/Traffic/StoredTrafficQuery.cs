using Billing.Events;
using Marten;
using NodaTime;
using Npgsql;
using NpgsqlTypes;

namespace Billing.Metering;

/// <summary>
/// Reads what <see cref="TrafficInStays"/> judges: the stored traffic of endpoints whose stays a batch
/// changes, from the earliest of its changes on. Asked only for a batch with an AZ removal, a deletion or
/// an AZ addition of an endpoint stored before, so the common batch (traffic only) reads nothing more.
/// </summary>
public static class StoredTrafficQuery
{
    /// <summary>One endpoint to read: its traffic at or after <see cref="From"/>; when it only gains stays (<see cref="Ending"/> false), only if some of it was un-billed.</summary>
    public readonly record struct Wanted(string EndpointId, Instant From, bool Ending);

    /// <summary>
    /// The endpoints stored before <paramref name="batch"/> whose stays its records change, each from its
    /// earliest change on (never before the oldest period open to traffic: older traffic is not moved).
    /// </summary>
    public static List<Wanted> WantedBy(Ingestion.ParsedBatch batch, IReadOnlyDictionary<string, EndpointTimeline> timelines) =>
        batch.StayChanges.Where(r => timelines.ContainsKey(r.EndpointId))
            .GroupBy(r => r.EndpointId, StringComparer.Ordinal)
            .Select(g =>
            {
                var from = g.Min(r => r.At);
                if (batch.OldestAccepted is { } oldest && from < oldest) from = oldest;
                return new Wanted(g.Key, from, g.Any(r => r is not EndpointAzAdded));
            })
            .ToList();

    /// <summary>The dead letters of un-billed traffic among <paramref name="recordIds"/> not replayed yet, by record id: marked replayed when billed again.</summary>
    public static async Task<Dictionary<string, IReadOnlyList<Ingestion.DeadLetter>>> UnbilledLettersAsync(IQuerySession session, IReadOnlyCollection<string> recordIds, CancellationToken ct)
    {
        if (recordIds.Count == 0) return new(StringComparer.Ordinal);
        var ids = recordIds.ToArray();
        var letters = await session.Query<Ingestion.DeadLetter>()
            .Where(d => d.RecordId.IsOneOf(ids) && d.Code == Ingestion.BatchDecider.AfterStayEnd && d.ReplayedAt == null).ToListAsync(ct);
        return letters.GroupBy(d => d.RecordId!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<Ingestion.DeadLetter>)g.ToList(), StringComparer.Ordinal);
    }

    /// <summary>
    /// One query for the traffic batches that hold the endpoints' hours from each one's instant on, one for
    /// their events; the endpoints that have none are left out.
    /// </summary>
    public static async Task<Dictionary<string, StoredTraffic>> LoadAsync(IQuerySession session, IReadOnlyList<Wanted> wanted, CancellationToken ct)
    {
        var found = new Dictionary<string, StoredTraffic>(StringComparer.Ordinal);
        if (wanted.Count == 0) return found;

        var batches = new Dictionary<string, List<Guid>>(StringComparer.Ordinal);
        var unbilled = new HashSet<string>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand($"""
            select t.endpoint_id, t.batch, bool_or(t.records < 0) from {TrafficHoursTable.Name} t
            join unnest(@endpoints, @hours) as u(e, h) on t.endpoint_id = u.e and t.hour >= u.h
            group by t.endpoint_id, t.batch
            """, (NpgsqlConnection)session.Connection!))
        {
            cmd.Parameters.Add(new NpgsqlParameter("endpoints", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = wanted.Select(w => w.EndpointId).ToArray() });
            cmd.Parameters.Add(new NpgsqlParameter("hours", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = wanted.Select(w => EndpointHours.FloorToHour(w.From).ToDateTimeUtc()).ToArray() });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var endpoint = reader.GetString(0);
                if (!batches.TryGetValue(endpoint, out var list)) batches[endpoint] = list = [];
                list.Add(reader.GetGuid(1));
                if (!reader.IsDBNull(2) && reader.GetBoolean(2)) unbilled.Add(endpoint);
            }
        }
        // An addition can only bill again what was un-billed: without such rows there is nothing to read.
        var read = wanted.Where(w => batches.ContainsKey(w.EndpointId) && (w.Ending || unbilled.Contains(w.EndpointId))).ToList();
        if (read.Count == 0) return found;

        var keys = read.SelectMany(w => batches[w.EndpointId]).Distinct().Select(TrafficStreams.KeyOf).ToArray();
        var endpoints = read.ToDictionary(w => w.EndpointId, _ => new List<(TrafficProcessed, int, long, string?)>(), StringComparer.Ordinal);
        foreach (var e in await session.Events.QueryAllRawEvents().Where(x => x.StreamKey!.IsOneOf(keys)).ToListAsync(ct))
            foreach (var (r, count) in TrafficLedger.Entries(e.Data))
                if (endpoints.TryGetValue(r.EndpointId, out var entries)) entries.Add((r, count, e.Sequence, e.UserName));
        foreach (var w in read) found[w.EndpointId] = TrafficLedger.Stored(endpoints[w.EndpointId], w.From);
        return found;
    }
}
