using Billing.Events;
using Billing.Metering;

namespace Billing.Invoicing;

/// <summary>
/// Prices an account's usage for a period (spec sections 2-4, 7). Pure: the same usage, price book,
/// tax country and adjustments always give the same lines and totals.
/// </summary>
public static class InvoiceCalculator
{
    /// <summary>
    /// The lines and totals of <paramref name="usage"/>'s invoice, priced with the version of
    /// <paramref name="priceBook"/> in effect for the usage's period in each region.
    /// Gateway endpoints are left off. <paramref name="adjustments"/> (lines with
    /// <see cref="InvoiceLine.Adjusts"/> set, see <see cref="InvoiceAdjustments.Between"/>) are added as given.
    /// Throws <see cref="PriceBookException"/> for a region or pool that has no price.
    /// </summary>
    public static InvoiceContent Calculate(
        AccountUsage usage, PriceBook priceBook, string taxCountry, IEnumerable<InvoiceLine>? adjustments = null)
    {
        ArgumentNullException.ThrowIfNull(usage);
        ArgumentNullException.ThrowIfNull(priceBook);
        var lines = new List<InvoiceLine>(Lines(usage, priceBook));
        foreach (var a in adjustments ?? [])
        {
            if (!a.IsAdjustment) throw new ArgumentException($"line {a.Key} is not an adjustment (Adjusts is not set)", nameof(adjustments));
            if (a.Adjusts >= usage.Period)
                throw new ArgumentException($"an adjustment on the {usage.Period} invoice must adjust an earlier period, not {a.Adjusts}", nameof(adjustments));
            lines.Add(a with { Amount = Money.Round(a.Amount) });
        }
        return InvoiceContent.Of(usage.AccountId, usage.Period, lines, taxCountry);
    }

    /// <summary>The priced lines of the usage alone (no adjustments), in no particular order.</summary>
    public static IEnumerable<InvoiceLine> Lines(AccountUsage usage, PriceBook priceBook)
    {
        var period = usage.Period;

        foreach (var g in usage.EndpointHours
                     .Where(h => h.EndpointType != EndpointType.Gateway)
                     .GroupBy(h => (h.Region, h.EndpointType, h.AzId)))
        {
            var hours = g.Sum(h => (decimal)h.Hours);
            if (hours < 0) throw new ArgumentException($"negative endpoint-hours for {g.Key}", nameof(usage));
            if (hours == 0) continue;
            var rate = priceBook.For(g.Key.Region, period).HourlyRate(g.Key.EndpointType);
            yield return InvoiceLine.EndpointHours(g.Key.Region, g.Key.EndpointType, g.Key.AzId, hours, rate);
        }

        foreach (var g in usage.DataProcessed
                     .Where(d => d.Pool != Pools.Of(EndpointType.Gateway))
                     .GroupBy(d => (d.Region, d.Pool)))
        {
            // GB are computed once per (region, pool) total, never per record (spec section 1).
            var gb = Gigabytes.FromBytes(Bytes(g.Sum(d => d.Bytes), g.Key));
            if (gb == 0) continue;
            foreach (var share in priceBook.For(g.Key.Region, period).Processing(g.Key.Pool).Split(gb))
                yield return InvoiceLine.DataProcessing(g.Key.Region, g.Key.Pool, share.Tier, share.Gb, share.Rate);
        }

        foreach (var g in usage.CrossAz.GroupBy(c => c.Region))
        {
            var gb = Gigabytes.FromBytes(Bytes(g.Sum(c => c.Bytes), g.Key));
            if (gb == 0) continue;
            var rate = priceBook.For(g.Key, period).CrossAzPerGb;
            yield return InvoiceLine.CrossAzOut(g.Key, gb, rate);
            yield return InvoiceLine.CrossAzIn(g.Key, gb, rate);
        }
    }

    static decimal Bytes(decimal bytes, object where) =>
        bytes >= 0 ? bytes : throw new ArgumentException($"negative bytes for {where}", nameof(bytes));
}
