using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Issuing;

/// <summary>InvoiceIssuer.Decide, the pure issuing decision: no database, every input plain data.</summary>
public sealed class InvoiceIssuerTests
{
    static readonly BillingPeriod October = new(2026, 10);
    static readonly Instant IssuedAt = Instant.FromUtc(2026, 11, 1, 0, 10);
    static readonly Instant Opened = Instant.FromUtc(2026, 9, 1, 0, 0);

    static IssuingState State(int last, Dictionary<string, string>? issued = null, params AccountProfile[] profiles) =>
        new(profiles.ToDictionary(p => p.Id), issued ?? [], new NumberSequence(2026, last), IssuedAt);

    [Fact]
    public void Numbers_continue_the_locked_sequence_in_the_order_asked_and_each_outcome_is_named()
    {
        var charges = new List<AccountCharges>
        {
            new("b", Charges.Hours("b", October, 744), []),        // 7.44
            new("gone", Charges.Hours("gone", October, 10), []),   // not opened yet
            new("a", Charges.Hours("a", October, 6), []),          // 0.06
            new("gw", Charges.Hours("gw", October, 0, gatewayHours: 744), []), // a Gateway endpoint only
            new("done", Charges.Hours("done", October, 1), []),    // issued by an earlier close
        };
        var state = State(41, new() { ["done"] = "INV-2026-000007" },
            Charges.Profile("a", Opened), Charges.Profile("b", Opened), Charges.Profile("gw", Opened), Charges.Profile("done", Opened));

        var decision = InvoiceIssuer.Decide(October, charges, state, PriceBook.Default);

        Assert.Equal(
            ["b issued INV-2026-000042 7.44", "gone waiting: the account is not opened yet  ", "a issued INV-2026-000043 0.06",
             "gw nothing to invoice  ", "done already issued INV-2026-000007 "],
            decision.Results.Select(r => $"{r.AccountId} {r.Outcome} {r.Number} {r.Total}"));
        Assert.Equal(new NumberSequence(2026, 43), decision.Numbers);
        Assert.Equal(["INV-2026-000042", "INV-2026-000043"], decision.Invoices.Select(i => i.Number));
        Assert.All(decision.Invoices, i => Assert.Equal(IssuedAt, i.IssuedAt));
        Assert.All(decision.Results, r => Assert.Equal(October, r.Period));
        // The state it was given is left as it was: the same sequence can be decided from again.
        Assert.Equal(new NumberSequence(2026, 41), state.Numbers);
    }

    [Fact]
    public void Tax_and_bill_to_follow_the_address_in_effect_at_the_period_end()
    {
        var moved = Charges.Profile("jp", Opened);
        moved.Addresses.Add(new AccountProfile.DatedAddress(Instant.FromUtc(2026, 10, 31, 23, 0), Charges.Jp));
        var decision = InvoiceIssuer.Decide(October, [new("jp", Charges.Hours("jp", October, 744), [])], State(0, null, moved), PriceBook.Default);

        var invoice = Assert.Single(decision.Invoices);
        Assert.Equal(("INV-2026-000001", "JP", 7.44m, 0.74m, 8.18m), (invoice.Number, invoice.TaxCountry, invoice.Subtotal, invoice.Tax, invoice.Total));
        Assert.Equal("Tokyo", invoice.BillTo.City);
    }

    [Fact]
    public void Nothing_due_takes_no_number()
    {
        var decision = InvoiceIssuer.Decide(October, [new("a", AccountUsage.Empty("a", October), [])], State(5, null, Charges.Profile("a", Opened)), PriceBook.Default);
        Assert.Equal(new NumberSequence(2026, 5), decision.Numbers);
        Assert.Empty(decision.Invoices);
        Assert.IsType<IssueOutcome.NothingToInvoice>(Assert.Single(decision.Results).Outcome);
    }

    [Fact]
    public void Charges_of_another_period_or_an_account_asked_twice_are_refused()
    {
        var state = State(0, null, Charges.Profile("a", Opened));
        var wrongPeriod = Assert.Throws<ArgumentException>(() => InvoiceIssuer.Decide(October, [new("a", Charges.Hours("a", October.Previous, 1), [])], state, PriceBook.Default));
        Assert.Contains("not of 2026-10", wrongPeriod.Message);
        var twice = Assert.Throws<ArgumentException>(() => InvoiceIssuer.Decide(October, [new("a", Charges.Hours("a", October, 1), []), new("a", Charges.Hours("a", October, 2), [])], state, PriceBook.Default));
        Assert.Contains("appears twice", twice.Message);
    }
}
