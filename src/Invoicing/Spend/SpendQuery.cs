using Billing.Invoicing.Closing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;
using NodaTime;

namespace Billing.Invoicing.Spend;

/// <summary>
/// Reads what <see cref="MonthToDateCost"/> prices, as a close reads it: the period's usage of the
/// accounts through <see cref="UsageQueries"/> (the close's own reader, on the facts that count in the
/// period), the late adjustments a close of the period would carry (<see cref="LateFactsQuery"/>,
/// <see cref="LateAdjustments"/>), the billing country in effect at the cutoff, and the issued invoice
/// of an invoiced period, which is the answer as it stands.
/// </summary>
public static class SpendQuery
{
    public static async Task<MonthToDate> ForAccountAsync(IQuerySession session, string accountId, BillingPeriod period, Instant now, LateWindow window, PriceBook priceBook, CancellationToken ct) =>
        (await ForAccountsAsync(session, [accountId], period, now, window, priceBook, ct))[accountId];

    public static async Task<IReadOnlyDictionary<string, MonthToDate>> ForAccountsAsync(IQuerySession session, IReadOnlyCollection<string> accounts, BillingPeriod period,
        Instant now, LateWindow window, PriceBook priceBook, CancellationToken ct)
    {
        var spend = new Dictionary<string, MonthToDate>(StringComparer.Ordinal);
        var asked = accounts.Distinct(StringComparer.Ordinal).ToList();
        var issued = (await session.LoadManyAsync<IssuedInvoice>(ct, asked.Select(a => IssuedInvoice.StreamKey(a, period))))
            .ToDictionary(i => i.AccountId, i => InvoiceJson.Read(i.Json), StringComparer.Ordinal);
        var reading = new SpendWindow(period, now);
        foreach (var (account, invoice) in issued)
            spend[account] = MonthToDateCost.Price(new SpendFacts(account, reading, AccountUsage.Empty(account, period), AccountUsage.Empty(account, period),
                AccountUsage.Empty(account, period), invoice.TaxCountry, [], invoice), priceBook);

        var open = asked.Where(a => !issued.ContainsKey(a)).ToList();
        if (open.Count == 0) return spend;
        // A period that has ended is whole: so far, to its end and forecast are one and the same reading.
        var actual = new UsageCalculator.Totals(period, window, hoursUntil: reading.Ended ? null : reading.Cutoff);
        var whole = reading.Ended ? actual : new UsageCalculator.Totals(period, window);
        var trailing = reading.Ended ? actual : new UsageCalculator.Totals(period, window, trafficFrom: reading.TrailingFrom);
        await UsageQueries.ForAccountsAsync(session, open, period, window, reading.Ended ? [actual] : [actual, whole, trailing], ct);
        var (soFar, toEnd, recent) = (actual.ToAccounts(), whole.ToAccounts(), trailing.ToAccounts());

        var profiles = (await session.LoadManyAsync<AccountProfile>(ct, open)).ToDictionary(p => p.Id, StringComparer.Ordinal);
        var adjustments = LateAdjustments.Decide(await LateFactsQuery.LoadForAccountsAsync(session, period, open, window, ct), window, priceBook).Adjustments;
        // The country in effect at the cutoff: at the period's end, as the close taxes, once it has ended.
        var taxedAt = reading.Ended ? period.End - Duration.Epsilon : reading.Cutoff;
        foreach (var account in open)
        {
            AccountUsage Of(Dictionary<string, AccountUsage> usage) => usage.GetValueOrDefault(account) ?? AccountUsage.Empty(account, period);
            spend[account] = MonthToDateCost.Price(new SpendFacts(account, reading, Of(soFar), Of(toEnd), Of(recent),
                profiles.GetValueOrDefault(account)?.AddressAt(taxedAt).Country, adjustments.GetValueOrDefault(account) ?? []), priceBook);
        }
        return spend;
    }
}
