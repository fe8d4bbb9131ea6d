using Billing.Metering;

namespace Billing.Invoicing;

/// <summary>
/// Late events (spec section 8): the difference per line between what a closed period's invoice
/// charged and what the period's recomputed lines charge, as adjustment lines for the payer's next invoice.
/// </summary>
public static class InvoiceAdjustments
{
    /// <summary>
    /// One adjustment line per line key whose quantity or amount changed: quantity and amount are
    /// recomputed minus invoiced (a line that disappeared is adjusted by minus its whole value; a new
    /// one by its whole value). Adjustment lines in <paramref name="invoiced"/> are ignored.
    /// </summary>
    public static IReadOnlyList<InvoiceLine> Between(BillingPeriod period, IEnumerable<InvoiceLine> invoiced, IEnumerable<InvoiceLine> recomputed)
    {
        var before = invoiced.Where(l => !l.IsAdjustment).ToDictionary(l => l.Key);
        var after = recomputed.Where(l => !l.IsAdjustment).ToDictionary(l => l.Key);
        var adjustments = new List<InvoiceLine>();
        foreach (var key in before.Keys.Union(after.Keys))
        {
            before.TryGetValue(key, out var was);
            after.TryGetValue(key, out var now);
            var quantity = (now?.Quantity ?? 0) - (was?.Quantity ?? 0);
            var amount = (now?.Amount ?? 0) - (was?.Amount ?? 0);
            if (quantity == 0 && amount == 0) continue;
            adjustments.Add(InvoiceLine.Adjustment(period, (now ?? was)!, quantity, amount));
        }
        return LineOrder.Sort(adjustments);
    }

    /// <summary>
    /// What has been charged so far for each line of a period: its invoice's own lines plus every
    /// adjustment of that period issued since, summed per line key (as plain lines, for <see cref="Between"/>).
    /// </summary>
    public static IReadOnlyList<InvoiceLine> Charged(IEnumerable<InvoiceLine> invoicedAndAdjustments) =>
        invoicedAndAdjustments
            .GroupBy(l => l.Key)
            .Select(g => g.First() with { Quantity = g.Sum(l => l.Quantity), Amount = g.Sum(l => l.Amount), Adjusts = null })
            .ToList();
}
