using Billing.Events;

namespace Billing.Invoicing;

/// <summary>How a billing address is printed: street lines, "postal code city", country.</summary>
static class Addresses
{
    static readonly Dictionary<string, string> Countries = new(StringComparer.Ordinal)
    {
        ["AT"] = "Austria", ["AU"] = "Australia", ["BE"] = "Belgium", ["BR"] = "Brazil", ["CA"] = "Canada",
        ["CH"] = "Switzerland", ["CN"] = "China", ["DE"] = "Germany", ["DK"] = "Denmark", ["ES"] = "Spain",
        ["FI"] = "Finland", ["FR"] = "France", ["GB"] = "United Kingdom", ["IE"] = "Ireland", ["IN"] = "India",
        ["IT"] = "Italy", ["JP"] = "Japan", ["KR"] = "Republic of Korea", ["LU"] = "Luxembourg", ["NL"] = "Netherlands",
        ["NO"] = "Norway", ["NZ"] = "New Zealand", ["PL"] = "Poland", ["PT"] = "Portugal", ["SE"] = "Sweden",
        ["SG"] = "Singapore", ["US"] = "United States",
    };

    public static IReadOnlyList<string> Lines(BillingAddress address)
    {
        var lines = new List<string> { address.Line1 };
        if (!string.IsNullOrWhiteSpace(address.Line2)) lines.Add(address.Line2);
        lines.Add(string.IsNullOrWhiteSpace(address.PostalCode) ? address.City : $"{address.PostalCode} {address.City}");
        lines.Add(CountryName(address.Country));
        return lines.Where(l => !string.IsNullOrWhiteSpace(l)).ToArray();
    }

    public static string CountryName(string code) =>
        Countries.TryGetValue(code.ToUpperInvariant(), out var name) ? name : code;
}
