using BenchmarkDotNet.Attributes;
using Billing.Metering;
using NodaTime;

namespace Billing.Benchmarks;

/// <summary>Billed clock hours of one endpoint in one AZ for a 744-hour month (billing-rules.md section 2).</summary>
[MemoryDiagnoser]
public class EndpointHoursBenchmarks
{
    public enum Stays
    {
        /// <summary>One stay provisioned before the month and never removed: all 744 hours.</summary>
        WholeMonth,

        /// <summary>50 stays of 5 to 95 minutes at seeded random instants: many partial and re-entered hours.</summary>
        FiftyShort,
    }

    [Params(Stays.WholeMonth, Stays.FiftyShort)]
    public Stays Scenario { get; set; }

    readonly BillingPeriod _period = Data.Period;
    List<Interval> _stays = [];

    [GlobalSetup]
    public void Setup() => _stays = Scenario switch
    {
        Stays.WholeMonth => [new Interval(_period.Start - Duration.FromDays(3), null)],
        _ => Data.ShortStays(50, seed: 42),
    };

    [Benchmark]
    public SortedList<Instant, Instant> BilledHours() => EndpointHours.BilledHours(_stays, _period);

    [Benchmark]
    public int Count() => EndpointHours.Count(_stays, _period);
}
