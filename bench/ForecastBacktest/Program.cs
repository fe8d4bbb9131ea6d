using System.Globalization;
using Billing.Events;
using Billing.Host.Features;
using Billing.Invoicing;
using Billing.Invoicing.Spend;
using Billing.Metering;
using NodaTime;

// The forecast's backtest (docs/spend.md). Each synthetic month (SyntheticUsage: the quick start's and the
// bench's generator) is replayed as it was known at the end of day 10 and of day 20, every record dated
// before then and nothing after, and forecast by the service's own code (UsageCalculator.Totals,
// Forecast.Extend, InvoiceCalculator): against the month's whole cost, per account and in total. The
// naive alternative, the cost so far scaled by the hours of the month, is reported beside it.
var accounts = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100;
var seeds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
BillingPeriod[] months = [new(2026, 10), new(2026, 11), new(2027, 2)];
int[] days = [10, 20];
var window = LateWindow.Default;
var book = PriceBook.Default;

var errors = days.ToDictionary(d => d, _ => (Forecast: new List<decimal>(), Naive: new List<decimal>(), Total: new List<decimal>(), NaiveTotal: new List<decimal>()));
foreach (var period in months)
    for (var seed = 1; seed <= seeds; seed++)
    {
        var records = new SyntheticUsage(period, accounts, seed).Records().ToList();
        var countries = records.OfType<AccountOpened>().ToDictionary(a => a.AccountId, a => a.BillingAddress.Country);
        var whole = Read(records, period, period.End + Duration.FromDays(1));
        foreach (var day in days)
        {
            var asOf = period.Start + Duration.FromDays(day);
            var known = Read(records.Where(r => r.At < asOf).ToList(), period, asOf);
            decimal sumF = 0, sumN = 0, sumA = 0;
            foreach (var (account, final) in whole)
            {
                if (final.Forecast.Total <= 0) continue;
                var soFar = known.GetValueOrDefault(account);
                var forecast = soFar?.Forecast.Total ?? 0;
                var naive = (soFar?.Actual.Total ?? 0) * period.Hours / new SpendWindow(period, asOf).HoursBegun;
                errors[day].Forecast.Add((forecast - final.Forecast.Total) / final.Forecast.Total);
                errors[day].Naive.Add((naive - final.Forecast.Total) / final.Forecast.Total);
                (sumF, sumN, sumA) = (sumF + forecast, sumN + naive, sumA + final.Forecast.Total);
            }
            errors[day].Total.Add((sumF - sumA) / sumA);
            errors[day].NaiveTotal.Add((sumN - sumA) / sumA);
            Console.WriteLine($"{period} seed {seed} day {day}: {whole.Count} accounts, month {sumA:N2} USD, forecast {sumF:N2} ({P((sumF - sumA) / sumA)}), naive {sumN:N2} ({P((sumN - sumA) / sumA)})");
        }

        // Each account's spend as SpendQuery computes it, from the records known at asOf.
        Dictionary<string, MonthToDate> Read(IReadOnlyList<IUsageRecord> known, BillingPeriod p, Instant asOf)
        {
            var reading = new SpendWindow(p, asOf);
            var timelines = new Dictionary<string, EndpointTimeline>(StringComparer.Ordinal);
            foreach (var r in known.OrderBy(r => r.At))
                switch (r)
                {
                    case EndpointCreated c: timelines[c.EndpointId] = EndpointTimeline.Create(c); break;
                    case IEndpointRecord e and not TrafficProcessed when timelines.TryGetValue(e.EndpointId, out var t): timelines[e.EndpointId] = t.With(e); break;
                }
            var traffic = known.OfType<TrafficProcessed>().Where(t => p.Contains(t.At)).GroupBy(t => t.EndpointId).ToDictionary(g => g.Key, g => g.ToList());
            var actual = new UsageCalculator.Totals(p, window, hoursUntil: reading.Ended ? null : reading.Cutoff);
            var toEnd = new UsageCalculator.Totals(p, window);
            var trailing = new UsageCalculator.Totals(p, window, trafficFrom: reading.TrailingFrom);
            foreach (var e in timelines.Values)
            {
                var raw = traffic.GetValueOrDefault(e.Id) ?? [];
                var buckets = TrafficHours.Sum(raw).Select(h => TrafficHours.InPeriod(h, p)).ToList();
                foreach (var totals in new[] { actual, toEnd, trailing }) totals.Add(e, buckets, raw);
            }
            var (a, w, t2) = (actual.ToAccounts(), toEnd.ToAccounts(), trailing.ToAccounts());
            return a.Keys.Union(w.Keys).ToDictionary(k => k, k => MonthToDateCost.Price(new SpendFacts(k, reading,
                a.GetValueOrDefault(k) ?? AccountUsage.Empty(k, p), w.GetValueOrDefault(k) ?? AccountUsage.Empty(k, p), t2.GetValueOrDefault(k) ?? AccountUsage.Empty(k, p),
                countries.GetValueOrDefault(k), []), book), StringComparer.Ordinal);
        }
    }

Console.WriteLine();
Console.WriteLine($"{months.Length} months x {seeds} seeds x {accounts} accounts; error = (forecast - month) / month, on the total with tax");
Console.WriteLine($"{"day",-5}{"median |err|",14}{"p90 |err|",12}{"mean err",10}{"total err (range)",26}   naive: {"median |err|",12}{"p90 |err|",10}{"total err (range)",24}");
foreach (var day in days)
{
    var (f, n, t, nt) = errors[day];
    Console.WriteLine($"{day,-5}{A(Q(f, 0.5)),14}{A(Q(f, 0.9)),12}{P(f.Average()),10}{$"{P(t.Average())} ({P(t.Min())}..{P(t.Max())})",26}   naive: {A(Q(n, 0.5)),12}{A(Q(n, 0.9)),10}{$"{P(nt.Average())} ({P(nt.Min())}..{P(nt.Max())})",24}");
}

static decimal Q(List<decimal> errors, double q)
{
    var sorted = errors.Select(Math.Abs).Order().ToList();
    return sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(q * sorted.Count))];
}

static string A(decimal share) => (share * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

static string P(decimal share) => (share * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + "%";
