using Billing.Events;
using NodaTime;

namespace Billing.Metering;

/// <summary>The lifecycle record that ended a stay (or began one again): what an un-billing or a re-billing names.</summary>
public sealed record StayRecord(string Id, string Type, Instant At)
{
    public static StayRecord Of(IEndpointRecord record) => new(record.Id, RecordJson.TypeName(record), record.At);

    public override string ToString() => $"{Type} '{Id}' at {RecordParser.Format(At)}";
}

/// <summary>
/// Traffic accepted earlier that a later-arriving <c>endpoint.az-removed</c> or <c>endpoint.deleted</c>
/// (<see cref="EndedBy"/>) put outside every stay of its endpoint: from this event on it is not billed
/// (spec 8, v1.2). Stored in a traffic stream of its own; the traffic-hours table takes its hours off.
/// </summary>
public sealed record TrafficUnbilled(string EndpointId, StayRecord EndedBy, IReadOnlyList<TrafficProcessed> Records);

/// <summary>
/// Traffic un-billed before that a later-arriving <c>endpoint.az-added</c> (<see cref="StartedBy"/>)
/// put inside a stay again: billed again from this event on, as if it had arrived after every fact.
/// </summary>
public sealed record TrafficRebilled(string EndpointId, StayRecord StartedBy, IReadOnlyList<TrafficProcessed> Records);

/// <summary>A traffic record as the store holds it, with who sent the batch that accepted it (the event's user).</summary>
public sealed record AcceptedTraffic(TrafficProcessed Record, string? SentBy);

/// <summary>One endpoint's stored traffic from some instant on: the records billed now, and those un-billed now.</summary>
public sealed record StoredTraffic(IReadOnlyList<AcceptedTraffic> Billed, IReadOnlyList<AcceptedTraffic> Unbilled);

/// <summary>
/// What the traffic events say is billed: each <see cref="TrafficRecorded"/> and <see cref="TrafficRebilled"/>
/// counts a record once more, each <see cref="TrafficUnbilled"/> once less. Counted, so the events may be
/// read in any order; keyed by the whole record, so an id freed by an un-billing and taken again by other
/// content stays apart. Pure.
/// </summary>
public static class TrafficLedger
{
    public static IEnumerable<(TrafficProcessed Record, int Count)> Entries(object? data) => data switch
    {
        TrafficRecorded r => r.Records.Select(x => (x, 1)),
        TrafficRebilled r => r.Records.Select(x => (x, 1)),
        TrafficUnbilled u => u.Records.Select(x => (x, -1)),
        _ => [],
    };

    /// <summary>The records billed after all of these events (their data), in the order first seen.</summary>
    public static List<TrafficProcessed> Billed(IEnumerable<object?> events)
    {
        var net = new Dictionary<TrafficProcessed, int>();
        var order = new List<TrafficProcessed>();
        var unbilling = false;
        foreach (var data in events)
        {
            // Nearly always traffic batches alone: their records are the answer, without counting them.
            if (data is TrafficRecorded recorded && !unbilling) { order.AddRange(recorded.Records); continue; }
            if (!unbilling)
            {
                unbilling = true;
                foreach (var r in order) net[r] = net.GetValueOrDefault(r) + 1;
                order = order.Distinct().ToList();
            }
            foreach (var (r, count) in Entries(data))
            {
                if (!net.ContainsKey(r)) order.Add(r);
                net[r] = net.GetValueOrDefault(r) + count;
            }
        }
        if (!unbilling) return order;
        var billed = new List<TrafficProcessed>(order.Count);
        foreach (var r in order)
            for (var i = 0; i < net[r]; i++) billed.Add(r);
        return billed;
    }

    /// <summary>
    /// One endpoint's records at or after <paramref name="from"/>, as billed or un-billed now, from its
    /// ledger entries (<see cref="Entries"/> of each traffic event, with the event's sequence and user).
    /// </summary>
    public static StoredTraffic Stored(IEnumerable<(TrafficProcessed Record, int Count, long Sequence, string? UserName)> entries, Instant from)
    {
        var net = new Dictionary<TrafficProcessed, (int Count, long Sequence, string? SentBy)>();
        foreach (var (r, count, sequence, user) in entries)
        {
            if (r.At < from) continue;
            var (n, last, by) = net.GetValueOrDefault(r, (0, long.MinValue, (string?)null));
            // Sent by whoever sent the event that last counted it in: the acceptance in force now.
            net[r] = count > 0 && sequence >= last ? (n + count, sequence, user) : (n + count, last, by);
        }
        var order = net.OrderBy(kv => kv.Key.At).ThenBy(kv => kv.Key.Id, StringComparer.Ordinal).ToList();
        return new StoredTraffic(
            order.Where(kv => kv.Value.Count > 0).Select(kv => new AcceptedTraffic(kv.Key, kv.Value.SentBy)).ToList(),
            order.Where(kv => kv.Value.Count <= 0).Select(kv => new AcceptedTraffic(kv.Key, kv.Value.SentBy)).ToList());
    }
}

/// <summary>The traffic a batch's lifecycle records move out of billing, and back in, each group with the record that moved it.</summary>
public sealed record StayMoves(
    IReadOnlyList<(StayRecord EndedBy, IReadOnlyList<AcceptedTraffic> Traffic)> Unbilled,
    IReadOnlyList<(StayRecord StartedBy, IReadOnlyList<AcceptedTraffic> Traffic)> Rebilled)
{
    public static readonly StayMoves None = new([], []);
}

/// <summary>
/// Traffic is billed only inside a stay, judged on every fact known (spec 8, v1.2). When a batch's
/// lifecycle records change an endpoint's stays, traffic accepted before that was inside a stay and is
/// now outside every one is un-billed, named after the removal or deletion that ended its stay; traffic
/// un-billed before that is inside a stay again (an AZ added back, dated before it) is billed again.
/// So the stored traffic ends up exactly as if every record had arrived after the lifecycle records:
/// the same set of records bills the same, in any arrival order. Traffic dated before
/// <c>oldestOpen</c> (a frozen period) is never moved: its charges are final. Pure.
/// </summary>
public static class TrafficInStays
{
    /// <param name="before">the endpoint's timeline as stored</param>
    /// <param name="after">the timeline with the batch's accepted lifecycle records</param>
    /// <param name="changes">those lifecycle records of the batch that change stays (AZ added, removed, deletion)</param>
    /// <param name="stored">the endpoint's stored traffic from the earliest of those records on</param>
    /// <param name="oldestOpen">the start of the oldest period still open to charges</param>
    public static StayMoves Judge(EndpointTimeline before, EndpointTimeline after, IReadOnlyList<IEndpointRecord> changes, StoredTraffic stored, Instant? oldestOpen)
    {
        if (changes.Count == 0) return StayMoves.None;
        bool Open(TrafficProcessed r) => oldestOpen is not { } o || r.At >= o;

        var unbilled = Grouped(stored.Billed
            .Where(t => Open(t.Record) && before.IsProvisioned(t.Record.AzId, t.Record.At) && !after.IsProvisioned(t.Record.AzId, t.Record.At))
            .Select(t => (EndedBy(changes, t.Record), t)));
        var rebilled = Grouped(stored.Unbilled
            .Where(t => Open(t.Record) && !before.IsProvisioned(t.Record.AzId, t.Record.At) && after.IsProvisioned(t.Record.AzId, t.Record.At))
            .Select(t => (StartedBy(changes, t.Record), t)));
        return unbilled.Count == 0 && rebilled.Count == 0 ? StayMoves.None : new StayMoves(unbilled, rebilled);
    }

    /// <summary>
    /// What ended the stay around the traffic: the batch's deletion if dated at or before it (traffic after a
    /// deletion is refused for the deletion, whatever else), else the batch's last removal of its AZ at or
    /// before it. The stored timeline had the traffic inside a stay, so one of the two is there.
    /// </summary>
    static StayRecord? EndedBy(IReadOnlyList<IEndpointRecord> changes, TrafficProcessed r)
    {
        if (changes.OfType<EndpointDeleted>().FirstOrDefault(d => d.At <= r.At) is { } deletion) return StayRecord.Of(deletion);
        return Last(changes.OfType<EndpointAzRemoved>().Where(x => x.AzId == r.AzId && x.At <= r.At));
    }

    /// <summary>The batch's last addition of the traffic's AZ at or before it: what began the stay it is in now.</summary>
    static StayRecord? StartedBy(IReadOnlyList<IEndpointRecord> changes, TrafficProcessed r) =>
        Last(changes.OfType<EndpointAzAdded>().Where(x => x.AzId == r.AzId && x.At <= r.At));

    static StayRecord? Last(IEnumerable<IEndpointRecord> records) =>
        records.OrderBy(x => x.At).ThenBy(x => x.Id, StringComparer.Ordinal).LastOrDefault() is { } last ? StayRecord.Of(last) : null;

    static List<(StayRecord, IReadOnlyList<AcceptedTraffic>)> Grouped(IEnumerable<(StayRecord? By, AcceptedTraffic Traffic)> moved) =>
        moved.Where(m => m.By is not null)
            .GroupBy(m => m.By!)
            .OrderBy(g => g.Key.At).ThenBy(g => g.Key.Id, StringComparer.Ordinal)
            .Select(g => (g.Key, (IReadOnlyList<AcceptedTraffic>)g.Select(m => m.Traffic).ToList()))
            .ToList();
}
