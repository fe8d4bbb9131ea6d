using Billing.Events;
using Billing.Host.Features.Budgets;
using Billing.Invoicing;
using Billing.Invoicing.Budgets;
using Billing.Invoicing.Spend;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Metering.Ingestion;
using NodaTime;

namespace Billing.Tests.Spend;

/// <summary>
/// The evaluation path over plain data (no database): what a decided batch touches, where its cost
/// lands, and when the evaluator's gate lets a touch go without an exact reading.
/// </summary>
public sealed class BudgetEvaluationTests
{
    static readonly BillingPeriod December = new(2026, 12);
    static readonly Instant Now = Instant.FromUtc(2026, 12, 10, 8, 20);
    const long GiB = 1L << 30;
    const string Owner = "111122223333";
    const string Payer = "444455556666";
    const string Stranger = "777788889999";

    static EndpointTimeline Endpoint(string id, EndpointType type = EndpointType.Interface, string owner = Owner) =>
        EndpointTimeline.Create(new EndpointCreated($"c-{id}", Instant.FromUtc(2026, 11, 1, 0, 0), id, owner, "us-east-1", "vpc-1", "svc", type, ["use1-az1", "use1-az2"]));

    static BatchDecision Decision(IReadOnlyList<TrafficProcessed> traffic, IReadOnlyList<StreamEvents>? streams = null, IReadOnlyDictionary<string, EndpointTimeline>? changed = null) =>
        new([], [], streams ?? [], traffic, [], [], changed ?? new Dictionary<string, EndpointTimeline>());

    static TrafficProcessed Traffic(string endpoint, Instant at, long bytes, string? source = null) => new($"t-{at}-{bytes}", at, endpoint, "use1-az1", source, bytes);

    [Fact]
    public void Traffic_touches_its_payer_with_the_bytes_processed_and_its_owner_with_the_cross_AZ_bytes_per_period()
    {
        var shared = Endpoint("vpce-1").With(new EndpointPayerChanged("p-1", Instant.FromUtc(2026, 12, 5, 0, 0), "vpce-1", Payer));
        var before = new Dictionary<string, EndpointTimeline> { ["vpce-1"] = shared, ["vpce-gw"] = Endpoint("vpce-gw", EndpointType.Gateway) };
        var decision = Decision([
            Traffic("vpce-1", Instant.FromUtc(2026, 12, 4, 0, 0), 3 * GiB, source: "use1-az2"),
            Traffic("vpce-1", Instant.FromUtc(2026, 12, 6, 0, 0), 5 * GiB),
            Traffic("vpce-1", Instant.FromUtc(2026, 11, 30, 23, 0), 7 * GiB, source: "use1-az2"),
            Traffic("vpce-gw", Instant.FromUtc(2026, 12, 6, 0, 0), 100 * GiB, source: "use1-az2"),
        ]);

        var touches = SpendTouches.Of(decision, before, _ => true);

        Assert.Equal([
            new SpendTouch(Owner, new BillingPeriod(2026, 11), 7m * GiB, 7m * GiB, false),
            new SpendTouch(Owner, December, 3m * GiB, 3m * GiB, false),
            new SpendTouch(Payer, December, 5m * GiB, 0, false),
        ], touches);
    }

    [Fact]
    public void Only_budgeted_accounts_are_touched_so_a_service_without_budgets_sends_nothing()
    {
        var before = new Dictionary<string, EndpointTimeline> { ["vpce-1"] = Endpoint("vpce-1") };
        var decision = Decision([Traffic("vpce-1", Now, GiB, source: "use1-az2")]);

        Assert.Empty(SpendTouches.Of(decision, before, _ => false));
        Assert.Equal([Owner], SpendTouches.Of(decision, before, a => a == Owner).Select(t => t.AccountId));
    }

    [Fact]
    public void A_lifecycle_record_touches_every_account_of_its_stream_from_its_own_period_on()
    {
        var before = new Dictionary<string, EndpointTimeline> { ["vpce-1"] = Endpoint("vpce-1") };
        var payerChange = new EndpointPayerChanged("p-2", Instant.FromUtc(2026, 11, 20, 0, 0), "vpce-1", Payer);
        var changed = new Dictionary<string, EndpointTimeline> { ["vpce-1"] = before["vpce-1"].With(payerChange) };
        var opened = new AccountOpened("o-1", Now, Stranger, "Stranger", new BillingAddress("1 Main St", null, "Springfield", null, "US"));
        var decision = Decision([], [
            new StreamEvents("vpce-1", typeof(EndpointTimeline), false, [payerChange]),
            new StreamEvents(Stranger, typeof(AccountProfile), true, [opened]),
        ], changed);

        var touches = SpendTouches.Of(decision, before, _ => true);

        Assert.Equal([
            new SpendTouch(Owner, new BillingPeriod(2026, 11), 0, 0, true, Exact: true),
            new SpendTouch(Payer, new BillingPeriod(2026, 11), 0, 0, true, Exact: true),
            new SpendTouch(Stranger, December, 0, 0, true, Tax: true),
        ], touches);
    }

    [Fact]
    public void A_new_endpoint_may_add_a_month_of_hours_per_AZ_a_deletion_adds_nothing_and_an_acceptance_touches_nothing()
    {
        var created = new EndpointCreated("c-9", Now, "vpce-9", Owner, "us-east-1", "vpc-1", "svc", EndpointType.Interface, ["use1-az1", "use1-az2"]);
        var fresh = EndpointTimeline.Create(created);
        var old = Endpoint("vpce-1");
        var deleted = new EndpointDeleted("d-1", Now, "vpce-1");
        var before = new Dictionary<string, EndpointTimeline> { ["vpce-1"] = old, ["vpce-2"] = Endpoint("vpce-2", owner: Payer) };
        var decision = Decision([], [
            new StreamEvents("vpce-9", typeof(EndpointTimeline), true, [created]),
            new StreamEvents("vpce-1", typeof(EndpointTimeline), false, [deleted]),
            new StreamEvents("vpce-2", typeof(EndpointTimeline), false, [new EndpointAccepted("a-1", Now, "vpce-2")]),
        ], new Dictionary<string, EndpointTimeline> { ["vpce-9"] = fresh, ["vpce-1"] = old.With(deleted) });

        var touch = Assert.Single(SpendTouches.Of(decision, before, _ => true));

        Assert.Equal(new SpendTouch(Owner, December, 0, 0, true, 2 * 744), touch);
        // Two AZs for 744 hours at the dearest hourly rate (0.014, ap-northeast-1), with 10%.
        Assert.Equal(2 * 744 * 0.014m * 1.1m, Gates().WorstCase(touch));
    }

    [Fact]
    public void An_AZ_added_may_add_a_month_of_hours_unless_it_billed_traffic_again_which_only_a_reading_can_price()
    {
        var before = new Dictionary<string, EndpointTimeline> { ["vpce-1"] = Endpoint("vpce-1") };
        var added = new EndpointAzAdded("a-2", Now, "vpce-1", "use1-az4");
        var changed = new Dictionary<string, EndpointTimeline> { ["vpce-1"] = before["vpce-1"].With(added) };
        var stream = new StreamEvents("vpce-1", typeof(EndpointTimeline), false, [added]);
        var plain = new BatchDecision([], [], [stream], [], [], [], changed);
        var rebilling = plain with { StayMoves = [new TrafficRebilled("vpce-1", StayRecord.Of(added), [Traffic("vpce-1", Now - Duration.FromHours(1), GiB)])] };

        Assert.Equal(new SpendTouch(Owner, December, 0, 0, true, 744), Assert.Single(SpendTouches.Of(plain, before, _ => true)));
        Assert.Equal(new SpendTouch(Owner, December, 0, 0, true, 744, Exact: true), Assert.Single(SpendTouches.Of(rebilling, before, _ => true)));
    }

    [Fact]
    public void A_touch_lands_in_its_own_period_until_it_is_closed_then_on_the_next_close_and_a_lifecycle_one_on_every_later_period()
    {
        BillingPeriod[] unclosed = [December, new(2026, 10)]; // November closed, October not yet (as after a close out of turn)
        var november = new BillingPeriod(2026, 11);

        Assert.Equal([December], EvaluateBudgetsHandler.Landing(new SpendTouch(Owner, December, GiB, 0, false), unclosed));
        Assert.Equal([December], EvaluateBudgetsHandler.Landing(new SpendTouch(Owner, november, GiB, 0, false), unclosed));
        Assert.Equal([December, new BillingPeriod(2026, 10)], EvaluateBudgetsHandler.Landing(new SpendTouch(Owner, new BillingPeriod(2026, 9), 0, 0, true), unclosed));
        Assert.Equal([December], EvaluateBudgetsHandler.Landing(new SpendTouch(Owner, november, 0, 0, true), unclosed));
    }

    static BudgetGates Gates() => new(PriceBook.Default);

    static MonthToDate Reading(BillingPeriod period, int lines = 2) =>
        new(Owner, period, Now, Enumerable.Range(0, lines).Select(_ => InvoiceLine.CrossAzIn("us-east-1", 1, 0.01m)).ToList(),
            new SpendAmounts(10m, 0, 10m), new SpendAmounts(30m, 0, 30m), "estimate: test");

    [Fact]
    public void The_worst_case_prices_every_GB_at_the_dearest_rate_both_ways_across_AZs_with_the_dearest_tax()
    {
        var gates = Gates();
        // 0.01 a GB processed, 2 x 0.01 a GB cross-AZ (out and in), plus 10%.
        Assert.Equal(0.011m, gates.WorstCase(new SpendTouch(Owner, December, GiB, 0, false)));
        Assert.Equal(0.022m, gates.WorstCase(new SpendTouch(Owner, December, 0, GiB, false)));
    }

    [Fact]
    public void Without_a_reading_or_after_a_lifecycle_record_a_touch_is_read_exactly()
    {
        var gates = Gates();
        Assert.True(gates.Admit(new SpendTouch(Owner, December, 1, 0, false), December, Now));
        gates.Remember(Owner, Reading(December), new Headroom(100m, null), Now);
        Assert.False(gates.Admit(new SpendTouch(Owner, December, 1, 0, false), December, Now));
        Assert.True(gates.Admit(new SpendTouch(Owner, December, 0, 0, true, Exact: true), December, Now));
        Assert.False(gates.Admit(new SpendTouch(Owner, December, 0, 0, true), December, Now));
        gates.Forget(Owner);
        Assert.True(gates.Admit(new SpendTouch(Owner, December, 1, 0, false), December, Now));
    }

    [Fact]
    public void Touches_add_up_until_their_worst_case_with_a_cent_a_line_could_reach_the_headroom()
    {
        var gates = Gates();
        // Headroom 1.00; slack for 2 lines + 12 new ones: 14 x 0.011 + 0.01 = 0.164; so 0.836 of worst case fits.
        gates.Remember(Owner, Reading(December), new Headroom(1.00m, null), Now);
        var tenGb = new SpendTouch(Owner, December, 10 * GiB, 0, false); // 0.11 each

        var admitted = Enumerable.Range(1, 10).Select(_ => gates.Admit(tenGb, December, Now)).ToList();

        // 7 x 0.11 = 0.77 + 0.164 < 1; the 8th reaches 1.044.
        Assert.Equal([false, false, false, false, false, false, false, true, true, true], admitted);
    }

    [Fact]
    public void A_forecast_headroom_is_reached_sooner_by_the_trailing_rate_s_multiplier()
    {
        var gates = Gates();
        // 10 Dec 08:20: 225 hours begun, trailing 168, 519 to come: traffic counts 1 + 519/168 = 4.089... times in the forecast.
        gates.Remember(Owner, Reading(December), new Headroom(null, 2.00m), Now);
        var tenGb = new SpendTouch(Owner, December, 10 * GiB, 0, false);

        Assert.False(gates.Admit(tenGb, December, Now)); // (0.11 + 0.164) x 4.089 = 1.12
        Assert.False(gates.Admit(tenGb, December, Now)); // (0.22 + 0.164) x 4.089 = 1.57
        Assert.True(gates.Admit(tenGb, December, Now));  // (0.33 + 0.164) x 4.089 = 2.02
    }

    [Fact]
    public void A_running_period_is_read_again_in_each_new_clock_hour_and_an_ended_one_is_not()
    {
        var gates = Gates();
        var november = new BillingPeriod(2026, 11);
        gates.Remember(Owner, Reading(December), new Headroom(100m, null), Now);
        gates.Remember(Owner, Reading(november), new Headroom(100m, null), Now);
        var touch = new SpendTouch(Owner, December, 1, 0, false);

        Assert.False(gates.Admit(touch, December, Instant.FromUtc(2026, 12, 10, 8, 59)));
        Assert.True(gates.Admit(touch, December, Instant.FromUtc(2026, 12, 10, 9, 0)));
        Assert.False(gates.Admit(touch with { Period = november }, november, Instant.FromUtc(2026, 12, 10, 9, 0)));
    }

    [Fact]
    public void Readings_are_trusted_only_while_this_process_wrote_the_evaluator_s_row_last()
    {
        var gates = Gates();
        var touch = new SpendTouch(Owner, December, 1, 0, false);
        var next = gates.Continue(Guid.Empty, 0);
        gates.Remember(Owner, Reading(December), new Headroom(100m, null), Now);
        Assert.Equal(1, next);

        // This process wrote generation 1 last: its readings stand.
        Assert.Equal(2, gates.Continue(gates.Writer, 1));
        Assert.False(gates.Admit(touch, December, Now));
        // Another node evaluated meanwhile (its touches are not in these gates): everything is read afresh.
        Assert.Equal(8, gates.Continue(Guid.NewGuid(), 7));
        Assert.True(gates.Admit(touch, December, Now));
        gates.Remember(Owner, Reading(December), new Headroom(100m, null), Now);
        // This process's own last evaluation rolled back (the row is still at 7, not 8): read afresh too.
        gates.Continue(gates.Writer, 7);
        Assert.True(gates.Admit(touch, December, Now));
    }

    [Fact]
    public void An_account_s_new_country_may_add_the_dearest_tax_on_its_whole_total()
    {
        var gates = Gates();
        // The reading's larger total is 30.00 (its forecast): 10% of it is 3.00, past a headroom of 3.00 less the slack.
        gates.Remember(Owner, Reading(December), new Headroom(3.00m, null), Now);
        Assert.True(gates.Admit(new SpendTouch(Owner, December, 0, 0, true, Tax: true), December, Now));
        gates.Remember(Owner, Reading(December), new Headroom(3.50m, null), Now);
        Assert.False(gates.Admit(new SpendTouch(Owner, December, 0, 0, true, Tax: true), December, Now));
    }

    [Fact]
    public void With_every_threshold_raised_traffic_needs_no_reading_at_all()
    {
        var gates = Gates();
        gates.Remember(Owner, Reading(December), Headroom.None, Now);
        Assert.False(gates.Admit(new SpendTouch(Owner, December, 1_000_000 * GiB, 1_000_000 * GiB, false), December, Now));
    }
}
