using System.Collections.Immutable;
using Billing.Metering;

namespace Billing.Invoicing;

/// <summary>
/// Prices as data (spec section 6): for each region, versions each effective from the start of a
/// billing period until the next one. Read from JSON (<c>pricebook.json</c>, see docs/invoicing.md)
/// and validated as a whole; an instance is immutable.
/// </summary>
public sealed class PriceBook
{
    static readonly Lazy<PriceBook> DefaultBook = new(LoadDefault);
    readonly IReadOnlyDictionary<string, PriceBookVersion[]> _versions;

    internal PriceBook(IReadOnlyDictionary<string, PriceBookVersion[]> versions)
    {
        _versions = versions;
        Regions = ImmutableSortedSet.CreateRange(StringComparer.Ordinal, versions.Keys);
    }

    /// <summary>The book shipped in the assembly: spec section 6 (us-east-1, eu-west-1, ap-northeast-1 from 2019-01).</summary>
    public static PriceBook Default => DefaultBook.Value;

    string? _fingerprint;

    /// <summary>"sha256:…" of the book's content (<see cref="Provenance.Fingerprints.PriceBookOf"/>), computed once: the book is immutable.</summary>
    public string Fingerprint => _fingerprint ??= Provenance.Fingerprints.PriceBookOf(this);

    /// <summary>The regions that have prices, in ordinal order.</summary>
    public IReadOnlySet<string> Regions { get; }

    /// <summary>Every version of a region, oldest first (empty for an unknown region).</summary>
    public IReadOnlyList<PriceBookVersion> Versions(string region) =>
        _versions.TryGetValue(region, out var versions) ? versions : [];

    /// <summary>Reads and validates a price book; throws <see cref="PriceBookException"/> listing every problem.</summary>
    public static PriceBook Load(string json) => PriceBookReader.Read(json, "price book");

    /// <summary>Reads and validates the price book file at <paramref name="path"/>.</summary>
    public static PriceBook LoadFile(string path)
    {
        string json;
        try { json = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PriceBookException($"price book {path}: cannot be read: {e.Message}");
        }
        return PriceBookReader.Read(json, $"price book {path}");
    }

    /// <summary>The version in effect in <paramref name="region"/> for <paramref name="period"/>, or null if none.</summary>
    public PriceBookVersion? Find(string region, BillingPeriod period)
    {
        if (!_versions.TryGetValue(region, out var versions)) return null;
        PriceBookVersion? found = null;
        foreach (var v in versions)
            if (v.EffectiveFrom <= period) found = v;
        return found;
    }

    /// <summary>The version in effect in <paramref name="region"/> for <paramref name="period"/>; throws a clear error if none.</summary>
    public PriceBookVersion For(string region, BillingPeriod period) =>
        Find(region, period) ?? throw new PriceBookException(
            _versions.TryGetValue(region, out var versions)
                ? $"price book: region '{region}' has no version in effect for {period} (its first version starts {versions[0].EffectiveFrom})"
                : $"price book: no prices for region '{region}' (regions: {string.Join(", ", Regions)})");

    static PriceBook LoadDefault()
    {
        using var stream = typeof(PriceBook).Assembly.GetManifestResourceStream("Billing.Invoicing.pricebook.json")
            ?? throw new InvalidOperationException("the default price book is not embedded in the assembly");
        using var reader = new StreamReader(stream);
        return PriceBookReader.Read(reader.ReadToEnd(), "default price book");
    }
}
