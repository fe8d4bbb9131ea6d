namespace Billing.Invoicing;

/// <summary>
/// The graduated price of one data-processing pool (spec section 3): tiers in ascending order,
/// every tier but the last bounded. A flat price is a schedule of one unbounded tier.
/// </summary>
public sealed class TierSchedule
{
    public TierSchedule(IEnumerable<PriceTier> tiers)
    {
        Tiers = tiers.ToArray().AsReadOnly();
        if (Tiers.Count == 0) throw new ArgumentException("a tier schedule needs at least one tier", nameof(tiers));
        if (Tiers[^1].UpToGb is not null) throw new ArgumentException("the last tier must be unbounded", nameof(tiers));
        for (var i = 0; i < Tiers.Count - 1; i++)
            if (Tiers[i].UpToGb is not { } upTo || upTo <= (i == 0 ? 0 : Tiers[i - 1].UpToGb!.Value))
                throw new ArgumentException($"tier {i + 1} must have an upper bound above the previous one", nameof(tiers));
    }

    public IReadOnlyList<PriceTier> Tiers { get; }

    public static TierSchedule Flat(decimal rate) => new([new PriceTier(null, rate)]);

    /// <summary>
    /// Splits a pool's total GB across the tiers: each tier gets the GB inside it. Only tiers with
    /// GB &gt; 0 are returned, in tier order; their GB add up to <paramref name="totalGb"/> exactly.
    /// </summary>
    public IReadOnlyList<TierShare> Split(decimal totalGb)
    {
        if (totalGb < 0) throw new ArgumentOutOfRangeException(nameof(totalGb), totalGb, "GB must not be negative");
        var shares = new List<TierShare>();
        var floor = 0m;
        for (var i = 0; i < Tiers.Count && totalGb > floor; i++)
        {
            var ceiling = Tiers[i].UpToGb ?? decimal.MaxValue;
            var gb = Math.Min(totalGb, ceiling) - floor;
            if (gb > 0) shares.Add(new TierShare(i + 1, gb, Tiers[i].Rate));
            floor = ceiling;
        }
        return shares;
    }
}
