using Billing.Invoicing;
using Billing.Invoicing.Closing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Closing;

/// <summary>PeriodClose, the pure close decisions: which accounts a close invoices, in which groups, and which periods the tick closes.</summary>
public sealed class PeriodCloseTests
{
    static readonly BillingPeriod October = new(2026, 10);
    static readonly Instant Now = Instant.FromUtc(2026, 11, 2, 0, 0);
    static readonly Instant Opened = Instant.FromUtc(2026, 9, 1, 0, 0);
    static readonly LateWindow Window = LateWindow.Default;

    static PeriodFacts Facts(IEnumerable<AccountUsage> usage, IEnumerable<AccountProfile> profiles, IEnumerable<string>? invoiced = null, ClosedPeriod? closed = null, LateFacts? late = null) =>
        new(October, Now, usage.ToDictionary(u => u.AccountId), late ?? LateFacts.None, (invoiced ?? []).ToHashSet(), profiles.ToDictionary(p => p.Id), closed);

    [Fact]
    public void Only_opened_accounts_with_something_billable_and_no_invoice_yet_are_due()
    {
        var facts = Facts(
            [Charges.Hours("a", October, 744), Charges.Hours("unknown", October, 744), Charges.Hours("gw", October, 0, gatewayHours: 744), Charges.Hours("done", October, 3)],
            [Charges.Profile("a", Opened), Charges.Profile("gw", Opened), Charges.Profile("done", Opened)],
            invoiced: ["done"]);

        var decision = PeriodClose.Decide(facts, Window, PriceBook.Default);

        var group = Assert.Single(decision.Groups);
        var charges = Assert.Single(group);
        Assert.Equal(("a", 744), (charges.AccountId, charges.Usage.EndpointHours.Single().Hours));
        Assert.Empty(charges.Adjustments);
        Assert.Equal(["a"], decision.Closed!.AccountsDue);
        Assert.Equal(("2026-10", Now, Now), (decision.Closed.Id, decision.Closed.ClosedAt, decision.Closed.LastClosedAt));
        Assert.Empty(decision.Owed);
    }

    [Fact]
    public void Due_accounts_go_out_in_groups_of_a_hundred_in_account_order()
    {
        var accounts = Enumerable.Range(0, 250).Select(i => $"{i:D12}").Reverse().ToList();
        var decision = PeriodClose.Decide(Facts(accounts.Select(a => Charges.Hours(a, October, 1)), accounts.Select(a => Charges.Profile(a, Opened))), Window, PriceBook.Default);

        Assert.Equal([100, 100, 50], decision.Groups.Select(g => g.Count));
        Assert.Equal(accounts.Order(StringComparer.Ordinal), decision.Groups.SelectMany(g => g).Select(c => c.AccountId));
    }

    [Fact]
    public void A_second_close_keeps_the_first_close_instant_and_leaves_the_loaded_record_alone()
    {
        var first = new ClosedPeriod { Id = "2026-10", ClosedAt = Now - Duration.FromDays(1), LastClosedAt = Now - Duration.FromDays(1), AccountsDue = ["a", "b"] };
        var decision = PeriodClose.Decide(Facts([Charges.Hours("b", October, 5)], [Charges.Profile("b", Opened)], closed: first), Window, PriceBook.Default);

        Assert.Equal((Now - Duration.FromDays(1), Now), (decision.Closed!.ClosedAt, decision.Closed.LastClosedAt));
        Assert.Equal(["b"], decision.Closed.AccountsDue);
        Assert.Equal(Now - Duration.FromDays(1), first.LastClosedAt);
        Assert.Equal(["a", "b"], first.AccountsDue);
    }

    [Fact]
    public void A_frozen_period_is_never_closed()
    {
        var july = new PeriodFacts(new BillingPeriod(2026, 7), Now, new Dictionary<string, AccountUsage> { ["a"] = Charges.Hours("a", new BillingPeriod(2026, 7), 744) },
            LateFacts.None, new HashSet<string>(), new Dictionary<string, AccountProfile> { ["a"] = Charges.Profile("a", Opened) }, null);
        Assert.Same(CloseDecision.Nothing, PeriodClose.Decide(july, Window, PriceBook.Default));
    }

    [Fact]
    public void An_account_with_only_adjustments_is_due_and_its_charges_carry_them()
    {
        var september = October.Previous;
        var invoiced = Charges.Issued(Charges.Hours("a", september, 720), "INV-2026-000001", Instant.FromUtc(2026, 10, 1, 0, 0));
        var late = new LateFacts(
            [new ClosedPeriodUsage(september, Instant.FromUtc(2026, 10, 1, 0, 0), new Dictionary<string, AccountUsage> { ["a"] = Charges.Hours("a", september, 700) })],
            [new InvoiceOfPeriod("a", september, invoiced)],
            new Dictionary<string, AccountProfile> { ["a"] = Charges.Profile("a", Opened) });

        var decision = PeriodClose.Decide(Facts([], [Charges.Profile("a", Opened)], late: late), Window, PriceBook.Default);

        var charges = Assert.Single(Assert.Single(decision.Groups));
        var adjustment = Assert.Single(charges.Adjustments);
        Assert.Equal((september, -20m, -0.20m), (adjustment.Adjusts!.Value, adjustment.Quantity, adjustment.Amount));
        Assert.Empty(charges.Usage.EndpointHours);
    }

    [Fact]
    public void The_tick_closes_the_open_periods_whose_grace_has_passed_oldest_first()
    {
        // At 2026-11-02T00:00 with a day's grace: November is not due; October is (end + 24 h); August and
        // September are; September is closed already; July is frozen.
        var due = PeriodClose.DuePeriods(Now, Duration.FromHours(24), Window, new HashSet<BillingPeriod> { new(2026, 9) });
        Assert.Equal([new BillingPeriod(2026, 8), new BillingPeriod(2026, 10)], due);
        Assert.Equal([new BillingPeriod(2026, 8), new BillingPeriod(2026, 9)], PeriodClose.DuePeriods(Now - Duration.FromTicks(1), Duration.FromHours(24), Window, new HashSet<BillingPeriod>()));
    }
}
