using Billing.Invoicing;
using Billing.Invoicing.Closing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.LateEvents;

/// <summary>LateAdjustments.Decide, what a close owes for the closed periods before it, over plain data.</summary>
public sealed class LateAdjustmentsTests
{
    static readonly BillingPeriod September = new(2026, 9);
    static readonly BillingPeriod October = new(2026, 10);
    static readonly Instant SeptemberClosed = Instant.FromUtc(2026, 10, 1, 1, 0);
    static readonly Instant Opened = Instant.FromUtc(2026, 8, 1, 0, 0);
    static readonly LateWindow Window = LateWindow.Default;

    static ClosedPeriodUsage Closed(BillingPeriod period, Instant closedAt, params AccountUsage[] usage) => new(period, closedAt, usage.ToDictionary(u => u.AccountId));

    [Fact]
    public void The_difference_from_what_was_charged_so_far_is_owed_adjustments_already_issued_included()
    {
        // September was invoiced 720 h; October's invoice adjusted it by -10 h; September now counts 700 h.
        var septemberInvoice = Charges.Issued(Charges.Hours("a", September, 720), "INV-2026-000001", SeptemberClosed);
        var octoberInvoice = Charges.Issued(Charges.Hours("a", October, 744), "INV-2026-000002", Instant.FromUtc(2026, 11, 1, 0, 0),
            InvoiceAdjustments.Between(September, septemberInvoice.Lines, InvoiceCalculator.Lines(Charges.Hours("a", September, 710), PriceBook.Default)));
        var facts = new LateFacts(
            [Closed(October, Instant.FromUtc(2026, 11, 1, 0, 0), Charges.Hours("a", October, 744)), Closed(September, SeptemberClosed, Charges.Hours("a", September, 700))],
            [new InvoiceOfPeriod("a", September, septemberInvoice), new InvoiceOfPeriod("a", October, octoberInvoice)],
            new Dictionary<string, AccountProfile> { ["a"] = Charges.Profile("a", Opened) });

        var late = LateAdjustments.Decide(facts, Window, PriceBook.Default);

        var line = Assert.Single(late.Adjustments["a"]);
        Assert.Equal((September, -10m, -0.10m), (line.Adjusts!.Value, line.Quantity, line.Amount));
        Assert.Empty(late.OwedInvoices);
    }

    [Fact]
    public void An_account_opened_after_a_period_closed_is_owed_that_invoice_not_adjustments()
    {
        var facts = new LateFacts([Closed(September, SeptemberClosed, Charges.Hours("late", September, 100))], [],
            new Dictionary<string, AccountProfile> { ["late"] = Charges.Profile("late", Instant.FromUtc(2026, 9, 1, 0, 0), recordedAt: SeptemberClosed + Duration.FromDays(3)) });

        var late = LateAdjustments.Decide(facts, Window, PriceBook.Default);

        Assert.Equal([("late", September)], late.OwedInvoices);
        Assert.Empty(late.Adjustments);
    }

    [Fact]
    public void An_account_not_opened_yet_or_opened_only_after_the_period_froze_is_owed_nothing()
    {
        var facts = new LateFacts([Closed(September, SeptemberClosed, Charges.Hours("unknown", September, 100), Charges.Hours("frozen", September, 100))], [],
            new Dictionary<string, AccountProfile> { ["frozen"] = Charges.Profile("frozen", Instant.FromUtc(2026, 9, 1, 0, 0), recordedAt: Instant.FromUtc(2027, 1, 1, 0, 0)) });

        var late = LateAdjustments.Decide(facts, Window, PriceBook.Default);

        Assert.Empty(late.OwedInvoices);
        Assert.Empty(late.Adjustments);
    }

    [Fact]
    public void Nothing_closed_before_owes_nothing() =>
        Assert.Same(LateCharges.None, LateAdjustments.Decide(LateFacts.None, Window, PriceBook.Default));
}
