using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;

namespace Billing.Invoicing.Rerating;

/// <summary>Subtotal, tax and total of one invoice (issued or what-if), in USD rounded to cents.</summary>
public sealed record Totals(decimal Subtotal, decimal Tax, decimal Total)
{
    public static readonly Totals Zero = new(0m, 0m, 0m);

    public static Totals Of(InvoiceContent c) => new(c.Subtotal, c.Tax, c.Total);

    public static Totals Of(Invoice i) => new(i.Subtotal, i.Tax, i.Total);

    public Totals Plus(Totals o) => new(Subtotal + o.Subtotal, Tax + o.Tax, Total + o.Total);
}

/// <summary>One account's current and re-rated figures; <see cref="Difference"/> = rerated total − current total.</summary>
public sealed record AccountRerate(string AccountId, Totals Current, Totals Rerated, bool Issued)
{
    public decimal Difference => Rerated.Total - Current.Total;
}

public sealed record RerateResult(BillingPeriod Period, IReadOnlyList<AccountRerate> Accounts)
{
    public Totals Current => Accounts.Aggregate(Totals.Zero, (sum, a) => sum.Plus(a.Current));
    public Totals Rerated => Accounts.Aggregate(Totals.Zero, (sum, a) => sum.Plus(a.Rerated));
    public decimal Difference => Rerated.Total - Current.Total;
}

/// <summary>
/// What-if re-rating (issue 14): a period's usage priced under another price book, next to what was
/// charged. Pure: reads nothing and writes nothing, so it can never touch an issued invoice.
/// </summary>
public static class Rerater
{
    /// <param name="usage">every account's usage of the period, as the close computes it</param>
    /// <param name="profiles">the opened accounts (an account never opened is never invoiced, so it is left out)</param>
    /// <param name="issued">the period's issued invoices by account</param>
    /// <param name="current">the price book in force, for accounts without an issued invoice</param>
    /// <param name="candidate">the price book to re-rate under</param>
    /// <exception cref="PriceBookException">a region of the usage has no price in either book</exception>
    public static RerateResult Rerate(
        BillingPeriod period,
        IReadOnlyDictionary<string, AccountUsage> usage,
        IReadOnlyDictionary<string, AccountProfile> profiles,
        IReadOnlyDictionary<string, Invoice> issued,
        PriceBook current,
        PriceBook candidate)
    {
        var accounts = new List<AccountRerate>();
        foreach (var id in usage.Keys.Union(issued.Keys).Order(StringComparer.Ordinal))
        {
            var u = usage.GetValueOrDefault(id) ?? AccountUsage.Empty(id, period);
            if (issued.TryGetValue(id, out var invoice))
            {
                // The invoice's adjustments correct earlier periods at their own prices: carried over
                // unchanged, so the difference is the price change of this period's usage alone.
                var adjustments = invoice.Lines.Where(l => l.IsAdjustment);
                var rerated = InvoiceCalculator.Calculate(u, candidate, invoice.TaxCountry, adjustments);
                accounts.Add(new AccountRerate(id, Totals.Of(invoice), Totals.Of(rerated), Issued: true));
            }
            else if (profiles.TryGetValue(id, out var profile))
            {
                var country = InvoiceIssuer.BillTo(profile, period).Country;
                var now = InvoiceCalculator.Calculate(u, current, country);
                var rerated = InvoiceCalculator.Calculate(u, candidate, country);
                // An account with nothing billable under either book would get no invoice at all.
                if (now.IsDue || rerated.IsDue) accounts.Add(new AccountRerate(id, Totals.Of(now), Totals.Of(rerated), Issued: false));
            }
        }
        return new RerateResult(period, accounts);
    }
}
