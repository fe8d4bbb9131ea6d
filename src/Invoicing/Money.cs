using System.Globalization;

namespace Billing.Invoicing;

/// <summary>Money is a decimal in USD, rounded half away from zero to cents (spec section 1).</summary>
public static class Money
{
    public const string Currency = "USD";

    public static decimal Round(decimal amount) => Math.Round(amount, 2, MidpointRounding.AwayFromZero);

    /// <summary>"7.44", "-0.05", "0.00": as the invoice JSON writes amounts.</summary>
    public static string Format(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>"0.01", "0.0035", "0.10": a rate with at least two places and no trailing zeros past them.</summary>
    public static string FormatRate(decimal rate) => rate.ToString("0.00##########", CultureInfo.InvariantCulture);
}
