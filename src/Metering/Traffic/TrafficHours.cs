using Billing.Events;
using NodaTime;

namespace Billing.Metering;

/// <summary>Bytes of one clock hour through one endpoint's interface in one AZ, from one source AZ (null: on-premises or unknown).</summary>
public readonly record struct TrafficHour(string EndpointId, Instant Hour, string AzId, string? SourceAzId, decimal Bytes);

/// <summary>Bytes of one clock hour (index within the period) through one AZ from one source AZ: what usage reads per endpoint.</summary>
public readonly record struct TrafficBucket(int Hour, string AzId, string? SourceAzId, decimal Bytes);

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
        var sums = new Dictionary<(string, Instant, string, string?), decimal>(records.Count);
        foreach (var r in records)
        {
            var key = (r.EndpointId, EndpointHours.FloorToHour(r.At), r.AzId, r.SourceAzId);
            sums[key] = sums.GetValueOrDefault(key) + r.Bytes;
        }
        var hours = new List<TrafficHour>(sums.Count);
        foreach (var ((endpoint, hour, az, source), bytes) in sums) hours.Add(new TrafficHour(endpoint, hour, az, source, bytes));
        return hours;
    }

    /// <summary>One endpoint's hours as buckets of <paramref name="period"/> (hours outside it are left out).</summary>
    public static TrafficBucket InPeriod(TrafficHour hour, BillingPeriod period) =>
        new(period.HourIndex(hour.Hour), hour.AzId, hour.SourceAzId, hour.Bytes);
}
