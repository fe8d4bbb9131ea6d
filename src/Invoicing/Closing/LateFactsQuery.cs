using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;

namespace Billing.Invoicing.Closing;

/// <summary>Reads the <see cref="LateFacts"/> of a close from Marten: the closed periods it adjusts, their invoices, usage and accounts.</summary>
public static class LateFactsQuery
{
    /// <summary>
    /// For closing <paramref name="closing"/>: every account's facts, or only <paramref name="onlyAccount"/>'s
    /// (an invoice owed to one account reads no one else's).
    /// </summary>
    public static Task<LateFacts> LoadAsync(IQuerySession session, BillingPeriod closing, string? onlyAccount, LateWindow window, CancellationToken ct) =>
        LoadForAccountsAsync(session, closing, onlyAccount is null ? null : [onlyAccount], window, ct);

    /// <summary>
    /// For closing <paramref name="closing"/>: the facts of <paramref name="accounts"/> only (every
    /// account's when null), as a close reads them: month-to-date spend asks what a close would adjust.
    /// </summary>
    public static async Task<LateFacts> LoadForAccountsAsync(IQuerySession session, BillingPeriod closing, IReadOnlyCollection<string>? accounts, LateWindow window, CancellationToken ct)
    {
        var adjusted = window.AdjustedBy(closing).ToList();
        var closed = (await session.LoadManyAsync<ClosedPeriod>(ct, adjusted.Select(p => p.ToString()))).ToDictionary(c => c.Period);
        var earlier = adjusted.Where(closed.ContainsKey).ToList();
        if (earlier.Count == 0) return LateFacts.None;

        var periods = earlier.Select(p => p.ToString()).ToArray();
        var only = accounts?.Distinct(StringComparer.Ordinal).ToArray();
        var issued = only is null
            ? await session.Query<IssuedInvoice>().Where(x => x.Period.IsOneOf(periods)).ToListAsync(ct)
            : only is [var one]
                ? await session.Query<IssuedInvoice>().Where(x => x.AccountId == one && x.Period.IsOneOf(periods)).ToListAsync(ct)
                : await session.Query<IssuedInvoice>().Where(x => x.AccountId.IsOneOf(only) && x.Period.IsOneOf(periods)).ToListAsync(ct);
        var invoices = issued.Select(i => new InvoiceOfPeriod(i.AccountId, BillingPeriod.Parse(i.Period), InvoiceJson.Read(i.Json))).ToList();

        var usage = new List<ClosedPeriodUsage>();
        foreach (var period in earlier)
        {
            var byAccount = only switch
            {
                null => await UsageQueries.ForPeriodAsync(session, period, window, ct),
                [var single] => new Dictionary<string, AccountUsage> { [single] = await UsageQueries.ForAccountAsync(session, single, period, window, ct) },
                _ => await ForAccountsAsync(session, only, period, window, ct),
            };
            usage.Add(new ClosedPeriodUsage(period, closed[period].ClosedAt, byAccount));
        }
        var ids = usage.SelectMany(u => u.Usage.Keys).Concat(invoices.Select(i => i.AccountId)).Distinct();
        var profiles = (await session.LoadManyAsync<AccountProfile>(ct, ids)).ToDictionary(p => p.Id, StringComparer.Ordinal);
        return new LateFacts(usage, invoices, profiles);
    }

    /// <summary>Each of the accounts' usage of the period (empty when it has none), as ForAccountAsync gives it one by one.</summary>
    static async Task<Dictionary<string, AccountUsage>> ForAccountsAsync(IQuerySession session, IReadOnlyList<string> accounts, BillingPeriod period, LateWindow window, CancellationToken ct)
    {
        var totals = new UsageCalculator.Totals(period, window);
        await UsageQueries.ForAccountsAsync(session, accounts, period, window, [totals], ct);
        var all = totals.ToAccounts();
        return accounts.ToDictionary(a => a, a => all.GetValueOrDefault(a) ?? AccountUsage.Empty(a, period), StringComparer.Ordinal);
    }
}
