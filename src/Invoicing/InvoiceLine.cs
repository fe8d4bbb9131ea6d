using Billing.Events;
using Billing.Metering;

namespace Billing.Invoicing;

/// <summary>
/// One line of an invoice (spec section 10). Which keys are set depends on the kind:
/// endpoint-hours has <see cref="EndpointType"/> and <see cref="AzId"/>; data-processing has
/// <see cref="Pool"/> and <see cref="Tier"/>; cross-AZ lines have only the region.
/// An adjustment line (spec section 8) is a line of the adjusted kind with <see cref="Adjusts"/> set
/// to the period it corrects; its quantity and amount are differences and may be negative.
/// Build lines with the factory methods: they compute the amount, rounded to cents.
/// </summary>
public sealed record InvoiceLine(
    LineKind Kind,
    string Region,
    EndpointType? EndpointType,
    string? AzId,
    string? Pool,
    int? Tier,
    decimal Quantity,
    decimal Rate,
    decimal Amount,
    BillingPeriod? Adjusts = null)
{
    public bool IsAdjustment => Adjusts is not null;

    /// <summary>"hours" or "GB".</summary>
    public string Unit => Kind.Unit();

    /// <summary>The kind as the JSON writes it: "adjustment" for adjustment lines.</summary>
    public string WireKind => IsAdjustment ? LineKinds.Adjustment : Kind.Wire();

    /// <summary>What identifies a line within one invoice's period; an adjustment adjusts the line with the same key.</summary>
    public LineKey Key => new(Kind, Region, EndpointType, AzId, Pool, Tier);

    public static InvoiceLine EndpointHours(string region, EndpointType type, string azId, decimal hours, decimal rate) =>
        new(LineKind.EndpointHours, region, type, azId, null, null, hours, rate, Money.Round(hours * rate));

    public static InvoiceLine DataProcessing(string region, string pool, int tier, decimal gb, decimal rate) =>
        new(LineKind.DataProcessing, region, null, null, pool, tier, gb, rate, Money.Round(gb * rate));

    public static InvoiceLine CrossAzOut(string region, decimal gb, decimal rate) =>
        new(LineKind.CrossAzOut, region, null, null, null, null, gb, rate, Money.Round(gb * rate));

    public static InvoiceLine CrossAzIn(string region, decimal gb, decimal rate) =>
        new(LineKind.CrossAzIn, region, null, null, null, null, gb, rate, Money.Round(gb * rate));

    /// <summary>
    /// An adjustment of <paramref name="adjusted"/>'s line in period <paramref name="period"/>:
    /// the same keys and rate, the given differences of quantity and amount (amount rounded to cents).
    /// </summary>
    public static InvoiceLine Adjustment(BillingPeriod period, InvoiceLine adjusted, decimal quantityDifference, decimal amountDifference) =>
        adjusted with { Quantity = quantityDifference, Amount = Money.Round(amountDifference), Adjusts = period };
}

/// <summary>The keys of a line besides its kind-independent numbers: (kind, region, type, AZ, pool, tier).</summary>
public readonly record struct LineKey(LineKind Kind, string Region, EndpointType? EndpointType, string? AzId, string? Pool, int? Tier);
