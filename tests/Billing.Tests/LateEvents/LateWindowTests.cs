using Billing.Events;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.LateEvents;

/// <summary>
/// Spec 8 (v1.1): the late window bounds charges, not facts. Pure: records are decided by the
/// decider at a given instant and metered by the calculator, no database.
/// </summary>
public class LateWindowTests
{
    const string E = "vpce-0a1b2c3d4e5f60718";
    const string A = "111122223333";
    static readonly LateWindow Window = LateWindow.Default;

    [Theory]
    [InlineData("2026-12-01T00:00:00Z", "2026-09")]
    [InlineData("2026-11-30T23:59:59Z", "2026-08")]
    [InlineData("2027-01-01T00:00:30Z", "2026-10")] // the first minute of a year
    [InlineData("2028-02-29T12:00:00Z", "2027-11")] // a leap day
    [InlineData("2026-03-31T23:59:59Z", "2025-12")]
    public void The_oldest_open_period_is_three_before_the_current_one(string now, string oldest)
    {
        var at = NodaTime.Text.InstantPattern.ExtendedIso.Parse(now).Value;
        Assert.Equal(oldest, Window.OldestOpen(at).ToString());
        Assert.False(Window.IsFrozen(BillingPeriod.Parse(oldest), at));
        Assert.True(Window.IsFrozen(BillingPeriod.Parse(oldest).Previous, at));
    }

    [Fact]
    public void Closing_a_period_recomputes_the_three_before_it_across_a_year_turn()
    {
        Assert.Equal(["2025-12", "2025-11", "2025-10"], Window.AdjustedBy(new BillingPeriod(2026, 1)).Select(p => p.ToString()));
        Assert.Equal(new BillingPeriod(2024, 12), new BillingPeriod(2026, 2).Minus(14));
        Assert.Equal(new BillingPeriod(2026, 2), new BillingPeriod(2026, 2).Minus(0));
    }

    [Fact]
    public void A_fact_counts_in_a_period_only_if_the_period_was_open_when_it_was_recorded()
    {
        var recorded = Instant.FromUtc(2026, 12, 1, 0, 0); // September is the oldest open period then
        Assert.True(Window.CountsIn(new BillingPeriod(2026, 9), recorded));
        Assert.False(Window.CountsIn(new BillingPeriod(2026, 8), recorded));
        Assert.True(Window.CountsIn(new BillingPeriod(2026, 8), null)); // stored before the service recorded it
    }

    static Dictionary<string, AccountUsage> Meter(Dictionary<string, EndpointTimeline> timelines, string period) =>
        UsageCalculator.Compute(new MeteringInput(BillingPeriod.Parse(period), timelines.Values,
            new Dictionary<string, IReadOnlyList<TrafficBucket>>(), new Dictionary<string, IReadOnlyList<TrafficProcessed>>(), Window));

    static BatchDecision Decide(Instant now, Dictionary<string, EndpointTimeline> timelines, params string[] lines) =>
        Deciding.Decide(lines, new ParseContext(now, new HashSet<string> { "us-east-1" }, Window.OldestOpen(now).Start), timelines);

    static int Hours(Dictionary<string, AccountUsage> usage, string az) =>
        usage.GetValueOrDefault(A)?.EndpointHours.Where(h => h.AzId == az).Sum(h => h.Hours) ?? 0;

    [Fact]
    public void An_endpoint_created_in_2025_bills_every_hour_now_and_an_az_removed_in_2025_bills_nothing()
    {
        var now = Instant.FromUtc(2026, 11, 15, 9, 0);
        var timelines = new Dictionary<string, EndpointTimeline>();
        var plan = Decide(now, timelines,
            Records.Created("c", "2025-03-10T08:15:00Z", E, A, "us-east-1", "Interface", "use1-az1", "use1-az2"),
            Records.AzRemoved("r", "2025-07-01T00:00:00Z", E, "use1-az2"),
            Records.Traffic("t-old", "2025-05-01T00:00:00Z", E, "use1-az1", null, 5),
            Records.Traffic("t-new", "2026-11-02T00:00:00Z", E, "use1-az1", null, 5));

        Assert.Equal([RecordStatus.Accepted, RecordStatus.Accepted, RecordStatus.Rejected, RecordStatus.Accepted], plan.Outcomes.Select(o => o.Status));
        Assert.Equal("too-late", plan.Outcomes[2].Reason!.Code);
        Assert.All(Deciding.EventsOf(plan, E), e => Assert.Equal(now, ((ILifecycleRecord)e).RecordedAt));

        var november = Meter(timelines, "2026-11");
        Assert.Equal(720, Hours(november, "use1-az1")); // every hour of the period, up to its end
        Assert.Equal(0, Hours(november, "use1-az2"));
        Assert.Equal(744, Hours(Meter(timelines, "2026-08"), "use1-az1")); // the oldest open period
        Assert.Empty(Meter(timelines, "2026-07")); // frozen when the creation was recorded: charged nothing, ever
        Assert.Empty(Meter(timelines, "2025-06"));
    }

    [Fact]
    public void A_deletion_dated_in_a_frozen_period_changes_only_the_periods_still_open()
    {
        var timelines = new Dictionary<string, EndpointTimeline>();
        // Recorded in June, while June was open.
        Decide(Instant.FromUtc(2026, 6, 10, 0, 0), timelines, Records.Created("c", "2026-06-10T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"));
        Assert.Equal(504, Hours(Meter(timelines, "2026-06"), "use1-az1")); // 10 June to the end: 21 days

        // Its deletion, dated 20 June, arrives on 2 October: June froze on 1 October, July is open.
        var plan = Decide(Instant.FromUtc(2026, 10, 2, 0, 0), timelines, Records.Deleted("d", "2026-06-20T00:00:00Z", E));
        Assert.Equal(RecordStatus.Accepted, plan.Outcomes[0].Status);
        Assert.Equal(Instant.FromUtc(2026, 6, 20, 0, 0), timelines[E].DeletedAt); // the fact, as dated

        Assert.Equal(504, Hours(Meter(timelines, "2026-06"), "use1-az1")); // frozen: unchanged
        Assert.Empty(Meter(timelines, "2026-07")); // open when the deletion was recorded: nothing
        Assert.Empty(Meter(timelines, "2026-10"));

        // The facts still decide later records: traffic after the deletion is refused for it.
        var late = Decide(Instant.FromUtc(2026, 10, 2, 0, 5), timelines, Records.Traffic("t", "2026-07-01T00:00:00Z", E, "use1-az1", null, 1));
        Assert.Equal("after-deletion", late.Outcomes[0].Reason!.Code);
    }

    [Fact]
    public void A_payer_change_dated_in_a_frozen_period_moves_only_the_open_periods_hours()
    {
        const string B = "444455556666";
        var timelines = new Dictionary<string, EndpointTimeline>();
        Decide(Instant.FromUtc(2026, 6, 1, 0, 0), timelines, Records.Created("c", "2026-06-01T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"));
        Decide(Instant.FromUtc(2026, 10, 2, 0, 0), timelines, Records.PayerChanged("p", "2026-06-15T00:00:00Z", E, B));

        var june = Meter(timelines, "2026-06");
        Assert.Equal(720, Hours(june, "use1-az1"));
        Assert.False(june.ContainsKey(B));
        var july = Meter(timelines, "2026-07");
        Assert.False(july.ContainsKey(A));
        Assert.Equal(744, july[B].EndpointHours.Single().Hours);
    }
}
