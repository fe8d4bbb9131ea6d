using Billing.Metering;
using Billing.Metering.Accounts;
using NodaTime;

namespace Billing.Invoicing.Closing;

/// <summary>A closed period that a later close recomputes: when it was first closed, and its usage now, on the facts that count in it.</summary>
public sealed record ClosedPeriodUsage(BillingPeriod Period, Instant ClosedAt, IReadOnlyDictionary<string, AccountUsage> Usage);

/// <summary>An issued invoice of a closed period, as the late-adjustment decision reads it.</summary>
public sealed record InvoiceOfPeriod(string AccountId, BillingPeriod Period, Invoice Invoice);

/// <summary>
/// What the late-adjustment decision reads (<see cref="LateFactsQuery"/> loads it): the closed periods
/// still open to adjustments, newest first; their invoices and the invoices after them; the profiles
/// of every account in them.
/// </summary>
public sealed record LateFacts(
    IReadOnlyList<ClosedPeriodUsage> Earlier,
    IReadOnlyList<InvoiceOfPeriod> Invoices,
    IReadOnlyDictionary<string, AccountProfile> Profiles)
{
    public static readonly LateFacts None = new([], [], new Dictionary<string, AccountProfile>());
}

/// <summary>What closing a period owes for the closed periods before it.</summary>
public sealed record LateCharges(
    IReadOnlyDictionary<string, IReadOnlyList<InvoiceLine>> Adjustments,
    IReadOnlyList<(string AccountId, BillingPeriod Period)> OwedInvoices)
{
    public static readonly LateCharges None = new(new Dictionary<string, IReadOnlyList<InvoiceLine>>(), []);
}

/// <summary>
/// What happens to late events at a close (spec 8), decided over loaded data. For each closed period
/// still open to late events, its lines are recomputed from all the facts that count in it now
/// (<see cref="LateWindow"/>) and compared with what was charged for it so far: its invoice plus the
/// adjustments of it already issued. The differences go on the payer's next invoice. An account that
/// had no invoice for a closed period because it was not opened yet is owed that invoice instead
/// (spec 9), so it gets no adjustments for that period; one opened only after the period froze is
/// owed nothing.
/// </summary>
public static class LateAdjustments
{
    public static LateCharges Decide(LateFacts facts, LateWindow window, PriceBook priceBook)
    {
        if (facts.Earlier.Count == 0) return LateCharges.None;
        var adjustments = new Dictionary<string, List<InvoiceLine>>(StringComparer.Ordinal);
        var owed = new List<(string AccountId, BillingPeriod Period)>();
        // Looked up per account below: a lookup, not a scan of every invoice for every account.
        var byAccount = facts.Invoices.ToLookup(i => i.AccountId, StringComparer.Ordinal);

        foreach (var (period, closedAt, usage) in facts.Earlier)
        {
            var accounts = usage.Keys.Concat(facts.Invoices.Where(i => i.Period >= period).Select(i => i.AccountId)).Distinct();
            foreach (var account in accounts)
            {
                var own = byAccount[account].FirstOrDefault(i => i.Period == period)?.Invoice;
                var recomputed = usage.TryGetValue(account, out var u) ? InvoiceCalculator.Lines(u, priceBook).ToList() : [];
                if (own is null)
                {
                    // Not opened yet: the period's usage waits for the account.
                    if (!facts.Profiles.TryGetValue(account, out var profile)) continue;
                    // Opened only after the period froze: it is never invoiced for the first time (spec 8).
                    if (!window.CountsIn(period, profile.OpenedRecordedAt)) continue;
                    // Unknown when the period closed: its own invoice is owed now that the account is opened.
                    if (profile.KnownSince > closedAt)
                    {
                        if (recomputed.Count > 0) owed.Add((account, period));
                        continue;
                    }
                }
                var charged = (own?.Lines.Where(l => !l.IsAdjustment) ?? [])
                    .Concat(byAccount[account].Where(i => i.Period > period).SelectMany(i => i.Invoice.Lines.Where(l => l.Adjusts == period)));
                var lines = InvoiceAdjustments.Between(period, InvoiceAdjustments.Charged(charged), recomputed);
                if (lines.Count == 0) continue;
                if (!adjustments.TryGetValue(account, out var list)) adjustments[account] = list = [];
                list.AddRange(lines);
            }
        }
        return new LateCharges(adjustments.ToDictionary(a => a.Key, a => (IReadOnlyList<InvoiceLine>)a.Value, StringComparer.Ordinal), owed);
    }
}
