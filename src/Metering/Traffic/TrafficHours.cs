using Billing.Events;
using NodaTime;

namespace Billing.Metering;

/// <summary>
/// Bytes of one clock hour through one endpoint's interface in one AZ, from one source AZ (null: on-premises
/// or unknown), and how many records they are (negative, with negative bytes, for traffic un-billed).
/// </summary>
public readonly record struct TrafficHour(string EndpointId, Instant Hour, string AzId, string? SourceAzId, decimal Bytes, int Records = 1);

/// <summary>Bytes of one clock hour (index within the period) through one AZ from one source AZ, and of how many records: what usage reads per endpoint.</summary>
public readonly record struct TrafficBucket(int Hour, string AzId, string? SourceAzId, decimal Bytes, int Records = 1);

/// <summary>
/// How traffic is summed for billing: per endpoint, clock hour, AZ and source AZ. Hourly sums are
/// enough to charge each hour's bytes to its payer and to find cross-AZ bytes; only an hour in which
/// the payer changes part-way needs the raw records (<see cref="RawTraffic"/>). Pure.
/// </summary>
public static class TrafficHours
{
    /// <summary>A batch's records summed into hours, one sum per (endpoint, hour, AZ, source AZ), in no particular order.</summary>
    public static List<TrafficHour> Sum(IReadOnlyList<TrafficProcessed> records)
    {
        var sums = new Dictionary<(string, Instant, string, string?), (decimal Bytes, int Records)>(records.Count);
        foreach (var r in records)
        {
            var key = (r.EndpointId, EndpointHours.FloorToHour(r.At), r.AzId, r.SourceAzId);
            var (bytes, count) = sums.GetValueOrDefault(key);
            sums[key] = (bytes + r.Bytes, count + 1);
        }
        var hours = new List<TrafficHour>(sums.Count);
        foreach (var ((endpoint, hour, az, source), (bytes, count)) in sums) hours.Add(new TrafficHour(endpoint, hour, az, source, bytes, count));
        return hours;
    }

    /// <summary>The same hours taken off: what un-billing their records writes.</summary>
    public static List<TrafficHour> Negated(IEnumerable<TrafficHour> hours) => hours.Select(h => h with { Bytes = -h.Bytes, Records = -h.Records }).ToList();

    /// <summary>
    /// One endpoint's buckets with un-billed ones taken off: added up per (hour, AZ, source AZ), and a key
    /// left out when no record of it is billed any more, so usage has exactly the rows it would have had
    /// had the un-billed records never been accepted. Rows written before records were counted count as
    /// one record each; their bytes still tell that some are left.
    /// </summary>
    public static List<TrafficBucket> Net(IEnumerable<TrafficBucket> buckets)
    {
        var sums = new Dictionary<(int, string, string?), (decimal Bytes, int Records)>();
        foreach (var b in buckets)
        {
            var key = (b.Hour, b.AzId, b.SourceAzId);
            var (bytes, count) = sums.GetValueOrDefault(key);
            sums[key] = (bytes + b.Bytes, count + b.Records);
        }
        var net = new List<TrafficBucket>(sums.Count);
        foreach (var ((hour, az, source), (bytes, count)) in sums)
            if (count > 0 || bytes > 0) net.Add(new TrafficBucket(hour, az, source, bytes, Math.Max(count, 1)));
        return net;
    }

    /// <summary>One endpoint's hours as buckets of <paramref name="period"/> (hours outside it are left out).</summary>
    public static TrafficBucket InPeriod(TrafficHour hour, BillingPeriod period) =>
        new(period.HourIndex(hour.Hour), hour.AzId, hour.SourceAzId, hour.Bytes, hour.Records);
}
