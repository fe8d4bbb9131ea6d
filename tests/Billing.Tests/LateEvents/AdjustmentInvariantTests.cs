using Billing.Events;
using Billing.Invoicing;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using CsCheck;
using NodaTime;

namespace Billing.Tests.LateEvents;

/// <summary>
/// The ledger invariant of spec 8, over random event sets whose arrival is split across three
/// closes: for every account, what the October invoice charged plus every later adjustment of
/// October equals October computed afresh from all its events, line by line.
/// </summary>
public class AdjustmentInvariantTests
{
    static readonly BillingPeriod October = new(2026, 10);
    static readonly ParseContext Context = new(Instant.FromUtc(2026, 12, 31, 0, 0), new HashSet<string> { "us-east-1" });
    const string E = "vpce-0a1b2c3d4e5f60718";
    const string A = OctoberScenario.A, B = OctoberScenario.B;

    sealed record Arrival(string Line, int Close);

    static readonly Gen<List<Arrival>> Events =
        Gen.Select(Gen.Int[0, 743 * 60], Gen.Bool, Gen.Int[0, 2], Gen.Int[0, 3], Gen.Long[0, 1_000_000_000_000_000L], Gen.Int[0, 2])
            .Select((minute, az2, source, size, bytes, close) => (minute, az2, source, size, bytes, close))
            .List[1, 25]
            .Select(Gen.Int[1, 743 * 60], Gen.Int[0, 2], (traffic, payerMinute, payerClose) =>
            {
                var start = October.Start;
                var list = new List<Arrival>
                {
                    new(Records.Created("c", "2026-09-01T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1", "use1-az2"), 0),
                    new(Records.PayerChanged("p", Format(start + Duration.FromMinutes(payerMinute)), E, B), payerClose),
                };
                var n = 0;
                foreach (var t in traffic)
                {
                    // Mostly small records; sometimes 10^15 bytes (~931,323 GB), so late GB can cross tiers.
                    var b = t.size == 0 ? t.bytes : t.bytes % 50_000_000_000L;
                    var src = t.source switch { 0 => null, 1 => "use1-az1", _ => "use1-az2" };
                    list.Add(new(Records.Traffic($"t{n++}", Format(start + Duration.FromMinutes(t.minute)), E, t.az2 ? "use1-az2" : "use1-az1", src, b), t.close));
                }
                return list;
            });

    static string Format(Instant at) => RecordParser.Format(at);

    static Dictionary<string, AccountUsage> Meter(IEnumerable<string> lines)
    {
        var timelines = new Dictionary<string, EndpointTimeline>();
        var plan = Deciding.Decide(lines, Context, timelines);
        Assert.All(plan.Outcomes, o => Assert.Equal(RecordStatus.Accepted, o.Status));
        return UsageCalculator.Compute(new MeteringInput(October, timelines.Values, Deciding.Buckets(plan.Traffic, October), Deciding.Raw(plan.Traffic)));
    }

    static List<InvoiceLine> Lines(Dictionary<string, AccountUsage> usage, string account) =>
        usage.TryGetValue(account, out var u) ? InvoiceCalculator.Lines(u, PriceBook.Default).ToList() : [];

    static IEnumerable<(LineKey, decimal, decimal)> Net(IEnumerable<InvoiceLine> lines) =>
        InvoiceAdjustments.Charged(lines).Where(l => l.Quantity != 0 || l.Amount != 0)
            .OrderBy(l => l.Key.ToString(), StringComparer.Ordinal).Select(l => (l.Key, l.Quantity, l.Amount));

    [Fact]
    public void Invoiced_plus_later_adjustments_equal_a_fresh_computation()
    {
        Events.Sample(arrivals =>
        {
            var charged = new Dictionary<string, List<InvoiceLine>> { [A] = [], [B] = [] };
            for (var close = 0; close <= 2; close++)
            {
                var usage = Meter(arrivals.Where(a => a.Close <= close).Select(a => a.Line));
                foreach (var account in charged.Keys)
                {
                    var recomputed = Lines(usage, account);
                    // The first close issues October's invoice; later closes issue adjustments of it.
                    var issued = close == 0 ? recomputed : InvoiceAdjustments.Between(October, InvoiceAdjustments.Charged(charged[account]), recomputed).ToList();
                    Assert.All(issued.Where(_ => close > 0), l => Assert.Equal(October, l.Adjusts));
                    charged[account].AddRange(issued.Select(l => l with { Amount = Math.Round(l.Amount, 2, MidpointRounding.AwayFromZero) }));
                }
            }

            var fresh = Meter(arrivals.Select(a => a.Line));
            foreach (var account in charged.Keys)
            {
                Assert.Equal(Net(Lines(fresh, account)), Net(charged[account]));
                Assert.Equal(Lines(fresh, account).Sum(l => l.Amount), charged[account].Sum(l => l.Amount));
            }
        }, iter: 150);
    }
}
