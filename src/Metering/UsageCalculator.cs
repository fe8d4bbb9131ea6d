using Billing.Events;

namespace Billing.Metering;

/// <summary>What the calculator reads: the period's endpoints, their hourly traffic sums (hours
/// indexed within the period), and
/// the raw traffic records of endpoints whose payer changed part-way through an hour.</summary>
public sealed record MeteringInput(
    BillingPeriod Period,
    IReadOnlyCollection<EndpointTimeline> Endpoints,
    IReadOnlyDictionary<string, IReadOnlyList<TrafficBucket>> TrafficByEndpoint,
    IReadOnlyDictionary<string, IReadOnlyList<TrafficProcessed>> RawTrafficByEndpoint);

/// <summary>
/// Turns metered facts into each account's usage for a period. Pure: the same input gives the
/// same usage, whatever order the events arrived in.
/// </summary>
public static class UsageCalculator
{
    /// <summary>
    /// Hours of the period in which the endpoint's payer changes strictly after the hour's first
    /// instant: their bytes are split between two payers by each record's own instant.
    /// </summary>
    public static HashSet<int> SplitHours(EndpointTimeline endpoint, BillingPeriod period) =>
        endpoint.PayerChanges
            .Where(c => period.Contains(c.At) && EndpointHours.FloorToHour(c.At) != c.At)
            .Select(c => period.HourIndex(c.At))
            .ToHashSet();

    public static Dictionary<string, AccountUsage> Compute(MeteringInput input)
    {
        var period = input.Period;
        var hours = new Dictionary<(string Account, string Region, EndpointType Type, string Az), int>();
        var processed = new Dictionary<(string Account, string Region, string Pool), decimal>();
        var crossAz = new Dictionary<(string Account, string Region), decimal>();

        foreach (var e in input.Endpoints)
        {
            foreach (var az in e.AzIds)
                foreach (var (_, firstInstant) in EndpointHours.BilledHours(e.Stays(az), period))
                {
                    var key = (e.PayerAt(firstInstant), e.Region, e.EndpointType, az);
                    hours[key] = hours.GetValueOrDefault(key) + 1;
                }

            var split = SplitHours(e, period);
            if (input.TrafficByEndpoint.TryGetValue(e.Id, out var buckets))
                foreach (var b in buckets)
                {
                    if (!split.Contains(b.Hour)) AddProcessed(e.PayerAt(period.HourStart(b.Hour)), e, b.Bytes);
                    // Cross-AZ transfer is charged to the owner, so payer splits do not matter here.
                    if (e.EndpointType != EndpointType.Gateway && b.SourceAzId is { } source && source != b.AzId)
                    {
                        var key = (e.OwnerAccountId, e.Region);
                        crossAz[key] = crossAz.GetValueOrDefault(key) + b.Bytes;
                    }
                }

            if (split.Count > 0 && input.RawTrafficByEndpoint.TryGetValue(e.Id, out var raw))
                foreach (var r in raw.Where(r => period.Contains(r.At) && split.Contains(period.HourIndex(r.At))))
                    AddProcessed(e.PayerAt(r.At), e, r.Bytes);
        }

        var accounts = hours.Keys.Select(k => k.Account)
            .Concat(processed.Keys.Select(k => k.Account))
            .Concat(crossAz.Keys.Select(k => k.Account))
            .Distinct();
        return accounts.ToDictionary(a => a, a => new AccountUsage(a, period,
            hours.Where(kv => kv.Key.Account == a)
                .Select(kv => new EndpointHoursUsage(kv.Key.Region, kv.Key.Type, kv.Key.Az, kv.Value))
                .OrderBy(h => h.Region, StringComparer.Ordinal).ThenBy(h => h.EndpointType).ThenBy(h => h.AzId, StringComparer.Ordinal)
                .ToList(),
            processed.Where(kv => kv.Key.Account == a)
                .Select(kv => new DataProcessedUsage(kv.Key.Region, kv.Key.Pool, kv.Value))
                .OrderBy(d => d.Region, StringComparer.Ordinal).ThenBy(d => d.Pool, StringComparer.Ordinal)
                .ToList(),
            crossAz.Where(kv => kv.Key.Account == a)
                .Select(kv => new CrossAzUsage(kv.Key.Region, kv.Value))
                .OrderBy(c => c.Region, StringComparer.Ordinal)
                .ToList()));

        void AddProcessed(string payer, EndpointTimeline e, decimal bytes)
        {
            var key = (payer, e.Region, e.Pool);
            processed[key] = processed.GetValueOrDefault(key) + bytes;
        }
    }
}
