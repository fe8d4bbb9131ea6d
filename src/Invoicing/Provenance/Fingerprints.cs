using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Billing.Metering;

namespace Billing.Invoicing.Provenance;

/// <summary>
/// Which price book and which rules' code priced an invoice: <see cref="PriceBookOf"/> hashes the
/// book's content, <see cref="Rules"/> names the metering and invoicing assemblies with their
/// informational versions and a hash of their module version ids (content-derived in a deterministic
/// build, so the same source gives the same fingerprint and any change to the rules another one).
/// </summary>
public static class Fingerprints
{
    static readonly Lazy<string> RulesOnce = new(() =>
    {
        Assembly[] assemblies = [typeof(UsageCalculator).Assembly, typeof(InvoiceCalculator).Assembly];
        var names = assemblies.Select(a => $"{a.GetName().Name} {a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? a.GetName().Version?.ToString()}");
        var ids = string.Join("\n", assemblies.Select(a => $"{a.GetName().Name} {a.ManifestModule.ModuleVersionId:D}"));
        return $"{string.Join("; ", names)}; sha256:{Hex(ids)[..16]}";
    });

    /// <summary>"Billing.Metering 1.0.0+abc; Billing.Invoicing 1.0.0+abc; sha256:0123456789abcdef".</summary>
    public static string Rules => RulesOnce.Value;

    /// <summary>"sha256:…" of the book's canonical text: every region (ordinal), version (oldest first) and rate, invariant culture.</summary>
    public static string PriceBookOf(PriceBook book)
    {
        var text = new StringBuilder();
        foreach (var region in book.Regions)
            foreach (var v in book.Versions(region))
            {
                text.Append(CultureInfo.InvariantCulture, $"{region} {v.EffectiveFrom} crossAz {CanonicalUsage.Number(v.CrossAzPerGb)}\n");
                foreach (var (type, rate) in v.Hourly.OrderBy(h => h.Key.ToString(), StringComparer.Ordinal))
                    text.Append(CultureInfo.InvariantCulture, $"  hourly {type} {CanonicalUsage.Number(rate)}\n");
                foreach (var (pool, schedule) in v.DataProcessing.OrderBy(d => d.Key, StringComparer.Ordinal))
                    text.Append(CultureInfo.InvariantCulture, $"  processing {pool} {string.Join(" ", schedule.Tiers.Select(t => $"{(t.UpToGb is { } up ? CanonicalUsage.Number(up) : "*")}@{CanonicalUsage.Number(t.Rate)}"))}\n");
            }
        return "sha256:" + Hex(text.ToString());
    }

    static string Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
