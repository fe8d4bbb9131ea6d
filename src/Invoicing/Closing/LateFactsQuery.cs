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
    public static async Task<LateFacts> LoadAsync(IQuerySession session, BillingPeriod closing, string? onlyAccount, LateWindow window, CancellationToken ct)
    {
        var adjusted = window.AdjustedBy(closing).ToList();
        var closed = (await session.LoadManyAsync<ClosedPeriod>(ct, adjusted.Select(p => p.ToString()))).ToDictionary(c => c.Period);
        var earlier = adjusted.Where(closed.ContainsKey).ToList();
        if (earlier.Count == 0) return LateFacts.None;

        var periods = earlier.Select(p => p.ToString()).ToArray();
        var issued = onlyAccount is null
            ? await session.Query<IssuedInvoice>().Where(x => x.Period.IsOneOf(periods)).ToListAsync(ct)
            : await session.Query<IssuedInvoice>().Where(x => x.AccountId == onlyAccount && x.Period.IsOneOf(periods)).ToListAsync(ct);
        var invoices = issued.Select(i => new InvoiceOfPeriod(i.AccountId, BillingPeriod.Parse(i.Period), InvoiceJson.Read(i.Json))).ToList();

        var usage = new List<ClosedPeriodUsage>();
        foreach (var period in earlier)
        {
            var accounts = onlyAccount is null
                ? await UsageQueries.ForPeriodAsync(session, period, window, ct)
                : new Dictionary<string, AccountUsage> { [onlyAccount] = await UsageQueries.ForAccountAsync(session, onlyAccount, period, window, ct) };
            usage.Add(new ClosedPeriodUsage(period, closed[period].ClosedAt, accounts));
        }
        var ids = usage.SelectMany(u => u.Usage.Keys).Concat(invoices.Select(i => i.AccountId)).Distinct();
        var profiles = (await session.LoadManyAsync<AccountProfile>(ct, ids)).ToDictionary(p => p.Id, StringComparer.Ordinal);
        return new LateFacts(usage, invoices, profiles);
    }
}
