using Billing.Metering;

namespace Billing.Invoicing;

/// <summary>
/// What an invoice charges, before it is issued (no number, no issue time yet): the lines in
/// invoice order and the totals. Subtotal = sum of the rounded lines; Tax = Subtotal x TaxRate
/// rounded once; Total = Subtotal + Tax (spec section 7). Currency is always USD.
/// </summary>
public sealed record InvoiceContent(
    string AccountId,
    BillingPeriod Period,
    IReadOnlyList<InvoiceLine> Lines,
    decimal Subtotal,
    string TaxCountry,
    decimal TaxRate,
    decimal Tax,
    decimal Total)
{
    public string Currency => Money.Currency;

    /// <summary>
    /// Whether an invoice is due (spec section 7): any billable quantity or any adjustment. An
    /// invoice that is due may still total $0.00.
    /// </summary>
    public bool IsDue => Lines.Count > 0;

    /// <summary>Totals the lines (sorted into invoice order) and taxes them.</summary>
    public static InvoiceContent Of(string accountId, BillingPeriod period, IEnumerable<InvoiceLine> lines, string taxCountry)
    {
        var sorted = LineOrder.Sort(lines);
        var country = TaxRules.Country(taxCountry);
        var subtotal = sorted.Sum(l => l.Amount);
        var rate = TaxRules.RateFor(country, period);
        var tax = TaxRules.Tax(subtotal, rate);
        return new InvoiceContent(accountId, period, sorted, subtotal, country, rate, tax, subtotal + tax);
    }
}
