using Billing.Events;

namespace Billing.Invoicing;

/// <summary>
/// The order of lines on an invoice: by region (ordinal); within a region the period's own lines
/// first, then adjustment lines by the period they adjust; then by kind (endpoint-hours,
/// data-processing, cross-AZ out, cross-AZ in); then endpoint type (Interface, GatewayLoadBalancer,
/// Resource) and AZ ID for hours, pool (same order as the types) and tier for processing.
/// </summary>
public sealed class LineOrder : IComparer<InvoiceLine>
{
    public static readonly LineOrder Instance = new();

    public static IReadOnlyList<InvoiceLine> Sort(IEnumerable<InvoiceLine> lines) => lines.Order(Instance).ToArray().AsReadOnly();

    public int Compare(InvoiceLine? a, InvoiceLine? b)
    {
        if (ReferenceEquals(a, b)) return 0;
        if (a is null) return -1;
        if (b is null) return 1;
        int c;
        if ((c = string.CompareOrdinal(a.Region, b.Region)) != 0) return c;
        if ((c = a.IsAdjustment.CompareTo(b.IsAdjustment)) != 0) return c;
        if ((c = Nullable.Compare(a.Adjusts, b.Adjusts)) != 0) return c;
        if ((c = a.Kind.CompareTo(b.Kind)) != 0) return c;
        if ((c = Nullable.Compare(a.EndpointType, b.EndpointType)) != 0) return c;
        if ((c = string.CompareOrdinal(a.AzId, b.AzId)) != 0) return c;
        if ((c = PoolRank(a.Pool).CompareTo(PoolRank(b.Pool))) != 0) return c;
        if ((c = string.CompareOrdinal(a.Pool, b.Pool)) != 0) return c;
        return Nullable.Compare(a.Tier, b.Tier);
    }

    static int PoolRank(string? pool) =>
        pool is not null && Enum.TryParse<EndpointType>(pool, out var type) ? (int)type : int.MaxValue;
}
