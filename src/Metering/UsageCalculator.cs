using Billing.Events;
using NodaTime;

namespace Billing.Metering;

/// <summary>What the calculator reads: the period's endpoints, their hourly traffic sums (hours
/// indexed within the period), and
/// the raw traffic records of endpoints whose payer changed part-way through an hour.</summary>
public sealed record MeteringInput(
    BillingPeriod Period,
    IReadOnlyCollection<EndpointTimeline> Endpoints,
    IReadOnlyDictionary<string, IReadOnlyList<TrafficBucket>> TrafficByEndpoint,
    IReadOnlyDictionary<string, IReadOnlyList<TrafficProcessed>> RawTrafficByEndpoint,
    LateWindow? Window = null);

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
        var usage = new Totals(input.Period, input.Window ?? LateWindow.Default);
        foreach (var e in input.Endpoints)
            usage.Add(e, input.TrafficByEndpoint.GetValueOrDefault(e.Id), input.RawTrafficByEndpoint.GetValueOrDefault(e.Id));
        return usage.ToAccounts();
    }

    /// <summary>
    /// A period's usage summed endpoint by endpoint, so a caller can feed endpoints in batches and let
    /// go of each batch's traffic before reading the next: only the per-account sums are kept.
    /// Adding the same endpoints in any grouping or order gives the same usage. Each endpoint counts
    /// with the facts that count in the period's charges (<see cref="LateWindow"/>).
    /// </summary>
    /// <param name="byDay">whether to also keep each account's endpoint-hours and bytes processed per UTC day and AZ (the console's chart); off for closes and the API, which never read it</param>
    /// <param name="hoursUntil">
    /// counts only the clock hours begun before this instant (a partial hour rounds up, as at the end of
    /// a stay): month-to-date spend (docs/spend.md). Null, as for a close, counts every hour of the period
    /// in which the endpoint is provisioned, up to the period's end.
    /// </param>
    /// <param name="trafficFrom">counts only the traffic of the hours from this instant on (a forecast's trailing window); null counts it all</param>
    public sealed class Totals(BillingPeriod period, LateWindow window, bool byDay = false, Instant? hoursUntil = null, Instant? trafficFrom = null)
    {
        readonly Dictionary<(string Account, string Region, EndpointType Type, string Az), int> _hours = new();
        readonly Dictionary<(string Account, string Region, string Pool), decimal> _processed = new();
        readonly Dictionary<(string Account, string Region), decimal> _crossAz = new();
        readonly Dictionary<(string Account, LocalDate Day, string Az), (int Hours, decimal Bytes)>? _daily = byDay ? new() : null;

        public BillingPeriod Period => period;

        /// <summary>Adds one endpoint's hours and traffic (its buckets of the period; raw records only matter in split hours).</summary>
        public void Add(EndpointTimeline endpoint, IReadOnlyList<TrafficBucket>? buckets, IReadOnlyList<TrafficProcessed>? raw)
        {
            if (endpoint.AsChargedIn(period, window) is not { } e) return;
            if (trafficFrom is { } from)
            {
                buckets = buckets?.Where(b => period.HourStart(b.Hour) >= from).ToList();
                raw = raw?.Where(r => r.At >= from).ToList();
            }
            // Without a payer change the owner pays everything: no need to ask who paid hour by hour.
            var onePayer = e.PayerChanges.Count == 0 ? e.OwnerAccountId : null;

            foreach (var az in e.AzIds)
            {
                var billed = EndpointHours.BilledHours(hoursUntil is { } until ? Until(e.Stays(az), until) : e.Stays(az), period);
                if (onePayer is not null) AddHours(onePayer, e, az, billed.Count);
                else
                    foreach (var firstInstant in billed.Values)
                        AddHours(e.PayerAt(firstInstant), e, az, 1);
                if (_daily is not null)
                    foreach (var (hour, firstInstant) in billed)
                        AddDaily(onePayer ?? e.PayerAt(firstInstant), hour, az, 1, 0);
            }

            var split = onePayer is null ? SplitHours(e, period) : null;
            if (buckets is not null)
            {
                decimal ownerBytes = 0, crossAzBytes = 0;
                var crossed = false;
                foreach (var b in buckets)
                {
                    if (onePayer is not null) ownerBytes += b.Bytes;
                    else if (!split!.Contains(b.Hour)) AddProcessed(e.PayerAt(period.HourStart(b.Hour)), e, b.Bytes);
                    if (_daily is not null && (onePayer is not null || !split!.Contains(b.Hour)))
                        AddDaily(onePayer ?? e.PayerAt(period.HourStart(b.Hour)), period.HourStart(b.Hour), b.AzId, 0, b.Bytes);
                    // Cross-AZ transfer is charged to the owner, so payer splits do not matter here.
                    if (b.SourceAzId is { } source && source != b.AzId)
                    {
                        crossAzBytes += b.Bytes;
                        crossed = true;
                    }
                }
                if (onePayer is not null && buckets.Count > 0) AddProcessed(onePayer, e, ownerBytes);
                if (e.EndpointType != EndpointType.Gateway && crossed)
                {
                    var key = (e.OwnerAccountId, e.Region);
                    _crossAz[key] = _crossAz.GetValueOrDefault(key) + crossAzBytes;
                }
            }

            if (split is { Count: > 0 } && raw is not null)
                foreach (var r in raw)
                    if (period.Contains(r.At) && split.Contains(period.HourIndex(r.At)))
                    {
                        AddProcessed(e.PayerAt(r.At), e, r.Bytes);
                        if (_daily is not null) AddDaily(e.PayerAt(r.At), r.At, r.AzId, 0, r.Bytes);
                    }
        }

        /// <summary>The stays cut at <paramref name="until"/>: what has been provisioned so far.</summary>
        static IEnumerable<Interval> Until(IReadOnlyList<Interval> stays, Instant until) =>
            stays.Where(s => s.Start < until).Select(s => s.HasEnd && s.End <= until ? s : new Interval(s.Start, until));

        /// <summary>Each account's usage, its rows in (region, type or pool, AZ) order.</summary>
        public Dictionary<string, AccountUsage> ToAccounts()
        {
            var accounts = new Dictionary<string, (List<EndpointHoursUsage> Hours, List<DataProcessedUsage> Processed, List<CrossAzUsage> CrossAz)>();
            (List<EndpointHoursUsage> Hours, List<DataProcessedUsage> Processed, List<CrossAzUsage> CrossAz) Of(string account)
            {
                if (!accounts.TryGetValue(account, out var rows)) accounts[account] = rows = ([], [], []);
                return rows;
            }

            foreach (var (k, hours) in _hours) Of(k.Account).Hours.Add(new EndpointHoursUsage(k.Region, k.Type, k.Az, hours));
            foreach (var (k, bytes) in _processed) Of(k.Account).Processed.Add(new DataProcessedUsage(k.Region, k.Pool, bytes));
            foreach (var (k, bytes) in _crossAz) Of(k.Account).CrossAz.Add(new CrossAzUsage(k.Region, bytes));

            return accounts.ToDictionary(kv => kv.Key, kv => new AccountUsage(kv.Key, period,
                kv.Value.Hours.OrderBy(h => h.Region, StringComparer.Ordinal).ThenBy(h => h.EndpointType).ThenBy(h => h.AzId, StringComparer.Ordinal).ToList(),
                kv.Value.Processed.OrderBy(d => d.Region, StringComparer.Ordinal).ThenBy(d => d.Pool, StringComparer.Ordinal).ToList(),
                kv.Value.CrossAz.OrderBy(c => c.Region, StringComparer.Ordinal).ToList()));
        }

        /// <summary>
        /// One account's endpoint-hours and bytes processed per UTC day and AZ, by day then AZ: the
        /// same facts as its <see cref="ToAccounts"/> rows, so each column sums to the period's figures.
        /// Empty unless the totals were made with byDay.
        /// </summary>
        public IReadOnlyList<DailyAzUsage> DailyOf(string account) =>
            _daily is null ? [] : _daily.Where(kv => kv.Key.Account == account)
                .Select(kv => new DailyAzUsage(kv.Key.Day, kv.Key.Az, kv.Value.Hours, kv.Value.Bytes))
                .OrderBy(d => d.Day).ThenBy(d => d.AzId, StringComparer.Ordinal).ToList();

        void AddDaily(string payer, Instant at, string az, int hours, decimal bytes)
        {
            var daily = _daily!;
            var key = (payer, at.InUtc().Date, az);
            var (h, b) = daily.GetValueOrDefault(key);
            daily[key] = (h + hours, b + bytes);
        }

        void AddHours(string payer, EndpointTimeline e, string az, int hours)
        {
            if (hours == 0) return;
            var key = (payer, e.Region, e.EndpointType, az);
            _hours[key] = _hours.GetValueOrDefault(key) + hours;
        }

        void AddProcessed(string payer, EndpointTimeline e, decimal bytes)
        {
            var key = (payer, e.Region, e.Pool);
            _processed[key] = _processed.GetValueOrDefault(key) + bytes;
        }
    }
}
