using Billing.Metering;

namespace Billing.Invoicing;

/// <summary>
/// Tax by the account's billing country in effect at the period end (spec section 7): Japan's
/// consumption tax 10% (8% for periods before 2019-10); every other country 0%, "Tax: not applicable".
/// </summary>
public static class TaxRules
{
    public const string Japan = "JP";
    static readonly BillingPeriod JapanTenPercentFrom = new(2019, 10);

    /// <summary>The tax rate for <paramref name="country"/> (ISO 3166-1 alpha-2) in <paramref name="period"/>.</summary>
    public static decimal RateFor(string country, BillingPeriod period) =>
        Country(country) == Japan ? (period < JapanTenPercentFrom ? 0.08m : 0.10m) : 0m;

    /// <summary>Whether the country is charged tax at all ("Tax: not applicable" when not).</summary>
    public static bool Applies(string country) => Country(country) == Japan;

    /// <summary>The tax of a subtotal: rounded once per invoice, half away from zero.</summary>
    public static decimal Tax(decimal subtotal, decimal rate) => Money.Round(subtotal * rate);

    /// <summary>The country code upper-cased; throws unless it is two letters A-Z.</summary>
    public static string Country(string country)
    {
        ArgumentNullException.ThrowIfNull(country);
        var code = country.Trim().ToUpperInvariant();
        return code is [>= 'A' and <= 'Z', >= 'A' and <= 'Z']
            ? code
            : throw new ArgumentException($"tax country '{country}' is not an ISO 3166-1 alpha-2 code like JP or DE", nameof(country));
    }
}
