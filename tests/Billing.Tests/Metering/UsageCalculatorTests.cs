using Billing.Events;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Metering;

/// <summary>The metering rules end to end without a database: decide a batch, sum the traffic, compute usage.</summary>
public class UsageCalculatorTests
{
    static readonly Instant Now = Instant.FromUtc(2026, 11, 1, 0, 0);
    static readonly ParseContext Context = new(Now, new HashSet<string> { "us-east-1", "eu-west-1", "ap-northeast-1" });

    static Dictionary<string, AccountUsage> Meter(IEnumerable<string> lines, BillingPeriod period)
    {
        var timelines = new Dictionary<string, EndpointTimeline>();
        var plan = Deciding.Decide(lines, Context, timelines);
        Assert.All(plan.Outcomes, o => Assert.Equal(RecordStatus.Accepted, o.Status));
        return UsageCalculator.Compute(new MeteringInput(period, timelines.Values, Deciding.Buckets(plan.Traffic, period), Deciding.Raw(plan.Traffic)));
    }

    [Fact]
    public void The_hand_computed_october_comes_out_exactly()
    {
        var usage = Meter(OctoberScenario.Lines, new BillingPeriod(2026, 10));
        Assert.Equal(OctoberScenario.ExpectedA, QueryUsage.ToJson(usage[OctoberScenario.A]).ToJsonString());
        Assert.Equal(OctoberScenario.ExpectedB, QueryUsage.ToJson(usage[OctoberScenario.B]).ToJsonString());
        Assert.Equal(2, usage.Count);
    }

    [Fact]
    public void September_sees_only_its_own_hour_and_traffic()
    {
        var usage = Meter(OctoberScenario.Lines, new BillingPeriod(2026, 9));
        Assert.Equal(OctoberScenario.ExpectedASeptember, QueryUsage.ToJson(usage[OctoberScenario.A]).ToJsonString());
    }

    [Fact]
    public void Any_arrival_order_within_a_batch_gives_the_same_usage()
    {
        var random = new Random(7);
        for (var i = 0; i < 20; i++)
        {
            var shuffled = OctoberScenario.Lines.OrderBy(_ => random.Next()).ToList();
            var usage = Meter(shuffled, new BillingPeriod(2026, 10));
            Assert.Equal(OctoberScenario.ExpectedA, QueryUsage.ToJson(usage[OctoberScenario.A]).ToJsonString());
            Assert.Equal(OctoberScenario.ExpectedB, QueryUsage.ToJson(usage[OctoberScenario.B]).ToJsonString());
        }
    }

    [Fact]
    public void Endpoints_summed_in_batches_give_the_same_usage_as_all_at_once()
    {
        var timelines = new Dictionary<string, EndpointTimeline>();
        var plan = Deciding.Decide(OctoberScenario.Lines, Context, timelines);
        var october = new BillingPeriod(2026, 10);
        var buckets = Deciding.Buckets(plan.Traffic, october);
        var raw = Deciding.Raw(plan.Traffic);
        // One endpoint per batch, in reverse order: the close reads the period's traffic this way.
        var totals = new UsageCalculator.Totals(october, LateWindow.Default);
        foreach (var e in timelines.Values.Reverse())
        {
            totals.Add(e, buckets.GetValueOrDefault(e.Id) ?? [], raw.GetValueOrDefault(e.Id) ?? []);
        }
        var usage = totals.ToAccounts();
        Assert.Equal(OctoberScenario.ExpectedA, QueryUsage.ToJson(usage[OctoberScenario.A]).ToJsonString());
        Assert.Equal(OctoberScenario.ExpectedB, QueryUsage.ToJson(usage[OctoberScenario.B]).ToJsonString());
        Assert.Equal(2, usage.Count);
    }

    [Fact]
    public void Two_endpoints_in_the_same_hour_are_billed_separately()
    {
        var lines = new[]
        {
            Records.Created("x-1", "2026-10-01T10:10:00Z", "vpce-aaaaaaaaaaaaaaaaa", OctoberScenario.A, "us-east-1", "Interface", "use1-az1"),
            Records.Deleted("x-2", "2026-10-01T10:20:00Z", "vpce-aaaaaaaaaaaaaaaaa"),
            Records.Created("x-3", "2026-10-01T10:30:00Z", "vpce-bbbbbbbbbbbbbbbbb", OctoberScenario.A, "us-east-1", "Interface", "use1-az1"),
            Records.Deleted("x-4", "2026-10-01T10:40:00Z", "vpce-bbbbbbbbbbbbbbbbb"),
        };
        var usage = Meter(lines, new BillingPeriod(2026, 10));
        Assert.Equal(2, Assert.Single(usage[OctoberScenario.A].EndpointHours).Hours);
    }

    [Fact]
    public void A_payer_change_exactly_on_the_hour_moves_that_whole_hour()
    {
        var lines = new[]
        {
            Records.Created("y-1", "2026-10-01T10:10:00Z", "vpce-aaaaaaaaaaaaaaaaa", OctoberScenario.A, "us-east-1", "Resource", "use1-az1"),
            Records.PayerChanged("y-2", "2026-10-01T11:00:00Z", "vpce-aaaaaaaaaaaaaaaaa", OctoberScenario.B),
            Records.Deleted("y-3", "2026-10-01T12:00:00Z", "vpce-aaaaaaaaaaaaaaaaa"),
            Records.Traffic("y-4", "2026-10-01T11:00:00Z", "vpce-aaaaaaaaaaaaaaaaa", "use1-az1", null, 100),
            Records.Traffic("y-5", "2026-10-01T10:59:59Z", "vpce-aaaaaaaaaaaaaaaaa", "use1-az1", null, 7),
        };
        var usage = Meter(lines, new BillingPeriod(2026, 10));
        Assert.Equal(1, Assert.Single(usage[OctoberScenario.A].EndpointHours).Hours);
        Assert.Equal(1, Assert.Single(usage[OctoberScenario.B].EndpointHours).Hours);
        Assert.Equal(7m, Assert.Single(usage[OctoberScenario.A].DataProcessed).Bytes);
        Assert.Equal(100m, Assert.Single(usage[OctoberScenario.B].DataProcessed).Bytes);
        Assert.Equal("Resource", usage[OctoberScenario.B].DataProcessed[0].Pool);
    }
}
