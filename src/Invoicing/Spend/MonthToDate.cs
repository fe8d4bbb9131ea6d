using Billing.Metering;
using NodaTime;

namespace Billing.Invoicing.Spend;

/// <summary>Three amounts of money: before tax, the tax, and the total (USD, two places).</summary>
public sealed record SpendAmounts(decimal Subtotal, decimal Tax, decimal Total)
{
    public static SpendAmounts Of(InvoiceContent content) => new(content.Subtotal, content.Tax, content.Total);
    public static SpendAmounts Of(Invoice invoice) => new(invoice.Subtotal, invoice.Tax, invoice.Total);
}

/// <summary>
/// What an account's period costs at <see cref="AsOf"/> (spec 11, docs/spend.md): <see cref="Actual"/>
/// and <see cref="Lines"/> are the invoice a close at <see cref="AsOf"/> would issue, priced by the
/// invoice's own code; <see cref="Forecast"/> extends it to the period's end by <see cref="Method"/>.
/// Once the period is invoiced both are that invoice (<see cref="InvoiceNumber"/>).
/// </summary>
public sealed record MonthToDate(
    string AccountId,
    BillingPeriod Period,
    Instant AsOf,
    IReadOnlyList<InvoiceLine> Lines,
    SpendAmounts Actual,
    SpendAmounts Forecast,
    string Method,
    string? InvoiceNumber = null)
{
    public string Currency => Money.Currency;

    /// <summary>Whether the forecast is an estimate (the period still runs) rather than a known cost.</summary>
    public bool IsEstimate => Method.StartsWith(Spend.Forecast.Estimate, StringComparison.Ordinal);
}

/// <summary>
/// What pricing an account's spend reads (<see cref="SpendQuery"/> loads it): its usage so far, with every
/// stay run on to the period's end, and in the trailing window; its billing country in effect at the
/// cutoff (null while the account is not opened: no tax); the adjustments of earlier closed periods a
/// close now would carry; and its issued invoice of the period, if any.
/// </summary>
public sealed record SpendFacts(
    string AccountId,
    SpendWindow Window,
    AccountUsage Actual,
    AccountUsage WholePeriod,
    AccountUsage Trailing,
    string? TaxCountry,
    IReadOnlyList<InvoiceLine> Adjustments,
    Invoice? Issued = null);

/// <summary>Month-to-date cost and forecast as pure functions of <see cref="SpendFacts"/>.</summary>
public static class MonthToDateCost
{
    /// <summary>
    /// ISO 3166's user-assigned code: the country of an account not opened yet, which a close would not
    /// invoice yet either; its spend is shown without tax, as every country but Japan is taxed.
    /// </summary>
    public const string NoCountry = "ZZ";

    public static MonthToDate Price(SpendFacts facts, PriceBook priceBook)
    {
        var period = facts.Window.Period;
        if (facts.Issued is { } invoice)
            return new MonthToDate(facts.AccountId, period, invoice.IssuedAt, invoice.Lines, SpendAmounts.Of(invoice), SpendAmounts.Of(invoice),
                $"invoiced: the forecast is invoice {invoice.Number}, issued {Billing.Events.RecordParser.Format(invoice.IssuedAt)}", invoice.Number);
        var country = facts.TaxCountry ?? NoCountry;
        var actual = InvoiceCalculator.Calculate(facts.Actual, priceBook, country, facts.Adjustments);
        var forecast = facts.Window.Ended ? actual
            : InvoiceCalculator.Calculate(Forecast.Extend(facts.Actual, facts.WholePeriod, facts.Trailing, facts.Window), priceBook, country, facts.Adjustments);
        return new MonthToDate(facts.AccountId, period, facts.Window.AsOf, actual.Lines, SpendAmounts.Of(actual), SpendAmounts.Of(forecast), Forecast.Method(facts.Window));
    }
}
