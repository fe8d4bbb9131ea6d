using Billing.Events;
using Billing.Metering;
using NodaTime;

namespace Billing.Invoicing;

/// <summary>
/// An issued invoice (spec sections 7 and 10): immutable once issued. Bill-to is the payer
/// account's name and billing address; <see cref="IssuedAt"/> is passed in, never read from a clock.
/// <see cref="Provenance"/> says what it was priced from; invoices issued before issue 14 have none.
/// </summary>
public sealed record Invoice(
    string Number,
    string AccountId,
    string Name,
    BillingAddress BillTo,
    BillingPeriod Period,
    Instant IssuedAt,
    string Currency,
    IReadOnlyList<InvoiceLine> Lines,
    decimal Subtotal,
    string TaxCountry,
    decimal TaxRate,
    decimal Tax,
    decimal Total,
    Provenance.InvoiceProvenance? Provenance = null)
{
    /// <summary>Whether tax is charged at all; when not, the invoice shows "Tax: not applicable".</summary>
    public bool TaxApplies => TaxRules.Applies(TaxCountry);

    /// <summary>
    /// Issues <paramref name="content"/> under <paramref name="number"/> (whose year must be the
    /// UTC year of <paramref name="issuedAt"/>) to the payer <paramref name="name"/> at <paramref name="billTo"/>.
    /// </summary>
    public static Invoice Issue(InvoiceContent content, string number, string name, BillingAddress billTo, Instant issuedAt)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(billTo);
        if (!InvoiceNumber.TryParse(number, out var year, out _))
            throw new ArgumentException($"'{number}' is not an invoice number like INV-2026-000042", nameof(number));
        if (year != issuedAt.InUtc().Year)
            throw new ArgumentException($"invoice number {number} is not of the year of issue {issuedAt.InUtc().Year}", nameof(number));
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("the payer's name is required", nameof(name));
        return new Invoice(number, content.AccountId, name, billTo, content.Period, issuedAt, content.Currency,
            content.Lines.ToArray().AsReadOnly(), content.Subtotal, content.TaxCountry, content.TaxRate, content.Tax, content.Total);
    }
}
