using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;

namespace Billing.Invoicing.Issuing;

/// <summary>
/// Late events (spec 8): for each closed period still open to late events, the closed period's
/// lines are recomputed from all its events now and compared with what was charged for it so far
/// (its invoice plus adjustments already issued); the differences go on the payer's next invoice.
/// An account that had no invoice for a closed period because it was not opened yet gets that
/// invoice issued instead (spec 9), so it gets no adjustments for that period. Every period is
/// computed on the facts that count in its charges (<see cref="LateWindow"/>): a fact recorded after
/// a period froze changes neither its adjustments nor whether it is owed an invoice.
/// </summary>
public sealed class LateAdjustments(PriceBook priceBook, LateWindow window)
{
    public LateWindow Window => window;

    /// <summary>
    /// What closing <paramref name="period"/> owes for the closed periods before it: adjustment lines
    /// for its invoices, by account (only <paramref name="onlyAccount"/> when given), and the invoices
    /// of earlier periods owed to accounts opened since those periods closed.
    /// </summary>
    public async Task<LateCharges> ForInvoicesOfAsync(IQuerySession session, BillingPeriod period, string? onlyAccount, CancellationToken ct)
    {
        var result = new Dictionary<string, List<InvoiceLine>>();
        var owed = new List<(string AccountId, BillingPeriod Period)>();
        var earlier = new List<(BillingPeriod Period, ClosedPeriod Closed)>();
        foreach (var q in window.AdjustedBy(period))
            if (await session.LoadAsync<ClosedPeriod>(q.ToString(), ct) is { } closed) earlier.Add((q, closed));
        if (earlier.Count == 0) return new(result, owed);

        var periods = earlier.Select(e => e.Period.ToString()).ToList();
        var issued = onlyAccount is null
            ? await session.Query<IssuedInvoice>().Where(x => x.Period.IsOneOf(periods.ToArray())).ToListAsync(ct)
            : await session.Query<IssuedInvoice>().Where(x => x.AccountId == onlyAccount).ToListAsync(ct);
        var invoices = issued.Where(i => BillingPeriod.Parse(i.Period) < period && BillingPeriod.Parse(i.Period) >= earlier[^1].Period)
            .Select(i => (i.AccountId, Period: BillingPeriod.Parse(i.Period), Invoice: InvoiceJson.Read(i.Json))).ToList();
        // Looked up per account below: a lookup, not a scan of every invoice for every account.
        var byAccount = invoices.ToLookup(i => i.AccountId, StringComparer.Ordinal);

        foreach (var (q, closed) in earlier)
        {
            var usage = onlyAccount is null
                ? await UsageQueries.ForPeriodAsync(session, q, window, ct)
                : new Dictionary<string, AccountUsage> { [onlyAccount] = await UsageQueries.ForAccountAsync(session, onlyAccount, q, window, ct) };
            var accounts = usage.Keys.Concat(invoices.Where(i => i.Period >= q).Select(i => i.AccountId))
                .Where(a => onlyAccount is null || a == onlyAccount).Distinct().ToList();
            var profiles = (await session.LoadManyAsync<AccountProfile>(ct, accounts)).ToDictionary(p => p.Id);

            foreach (var account in accounts)
            {
                var own = byAccount[account].FirstOrDefault(i => i.Period == q).Invoice;
                var recomputed = usage.TryGetValue(account, out var u) ? InvoiceCalculator.Lines(u, priceBook).ToList() : [];
                if (own is null)
                {
                    // Not opened yet: q's usage waits for the account.
                    if (!profiles.TryGetValue(account, out var profile)) continue;
                    // Opened only after q froze: q is never invoiced for the first time (spec 8).
                    if (!window.CountsIn(q, profile.OpenedRecordedAt)) continue;
                    // No account when q closed: q's own invoice is owed now that it is opened.
                    if (profile.KnownSince > closed.ClosedAt)
                    {
                        if (recomputed.Count > 0) owed.Add((account, q));
                        continue;
                    }
                }
                var charged = (own?.Lines.Where(l => !l.IsAdjustment) ?? [])
                    .Concat(byAccount[account].Where(i => i.Period > q).SelectMany(i => i.Invoice.Lines.Where(l => l.Adjusts == q)));
                var adjustments = InvoiceAdjustments.Between(q, InvoiceAdjustments.Charged(charged), recomputed);
                if (adjustments.Count == 0) continue;
                if (!result.TryGetValue(account, out var list)) result[account] = list = [];
                list.AddRange(adjustments);
            }
        }
        return new(result, owed);
    }
}

/// <summary>See <see cref="LateAdjustments.ForInvoicesOfAsync"/>.</summary>
public sealed record LateCharges(
    Dictionary<string, List<InvoiceLine>> Adjustments,
    List<(string AccountId, BillingPeriod Period)> OwedInvoices);
