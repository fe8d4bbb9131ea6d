using Billing.Events;
using Billing.Metering;
using Billing.Metering.Ingestion;
using NodaTime;

namespace Billing.Tests.Support;

/// <summary>The ingest decision without a database: decide a batch, then keep what it decided, as the store would.</summary>
public static class Deciding
{
    /// <summary>
    /// Decides <paramref name="lines"/> against <paramref name="timelines"/> (and the other stored
    /// state given), then puts the timelines the decision created or changed into
    /// <paramref name="timelines"/>, as committing the batch does.
    /// </summary>
    public static BatchDecision Decide(IEnumerable<string> lines, ParseContext context, Dictionary<string, EndpointTimeline>? timelines = null,
        Instant? firstSeen = null, IReadOnlyDictionary<string, byte[]>? known = null, IReadOnlySet<string>? opened = null)
    {
        var batch = ParsedBatch.Parse(lines.Select(l => new IncomingRecord(l, firstSeen ?? context.Now)).ToList(), context);
        var decision = BatchDecider.Decide(batch,
            new IngestState(known ?? new Dictionary<string, byte[]>(), timelines ?? [], opened ?? new HashSet<string>()), Duration.FromMinutes(10));
        if (timelines is not null)
            foreach (var (id, timeline) in decision.Timelines) timelines[id] = timeline;
        return decision;
    }

    /// <summary>The events a decision appends to (or starts) one stream.</summary>
    public static IReadOnlyList<object> EventsOf(BatchDecision decision, string streamKey) =>
        decision.Streams.SingleOrDefault(s => s.Key == streamKey)?.Events ?? [];

    /// <summary>Accepted traffic summed per endpoint into the hours of <paramref name="period"/>, as the traffic-hours table holds it.</summary>
    public static Dictionary<string, IReadOnlyList<TrafficBucket>> Buckets(IEnumerable<TrafficProcessed> traffic, BillingPeriod period) =>
        TrafficHours.Sum(traffic.ToList()).Where(h => period.Contains(h.Hour)).GroupBy(h => h.EndpointId)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<TrafficBucket>)g.Select(h => TrafficHours.InPeriod(h, period)).ToList());

    /// <summary>Accepted traffic per endpoint, as the raw records read back for split hours.</summary>
    public static Dictionary<string, IReadOnlyList<TrafficProcessed>> Raw(IEnumerable<TrafficProcessed> traffic) =>
        traffic.GroupBy(t => t.EndpointId).ToDictionary(g => g.Key, g => (IReadOnlyList<TrafficProcessed>)g.ToList());
}
