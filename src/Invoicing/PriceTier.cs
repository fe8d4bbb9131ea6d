namespace Billing.Invoicing;

/// <summary>
/// One tier of a graduated data-processing price: the GB of the pool's monthly total above the
/// previous tier's <see cref="UpToGb"/> and up to this one (inclusive) are charged at <see cref="Rate"/>.
/// The last tier has no upper bound (<see cref="UpToGb"/> null).
/// </summary>
public sealed record PriceTier(decimal? UpToGb, decimal Rate);

/// <summary>The GB of a pool's total that fall into tier <see cref="Tier"/> (1-based), and its rate.</summary>
public sealed record TierShare(int Tier, decimal Gb, decimal Rate);
