using Billing.Metering;

namespace Billing.Invoicing.Spend;

/// <summary>
/// The forecast of a period's usage from what is known at a point in it (docs/spend.md), an estimate:
/// <list type="bullet">
/// <item>endpoint-hours: every stay known goes on as it is known, so an endpoint-AZ provisioned now
/// stays provisioned until the period ends (or until a removal or deletion already recorded);</item>
/// <item>traffic: per (region, pool) for data processing and per region for cross-AZ, the bytes so
/// far plus the bytes of the trailing window's hours carried at the same hourly rate over the hours
/// still to come, rounded to whole bytes.</item>
/// </list>
/// The forecast usage is then priced by the invoice's own code, tiers and tax included. Pure.
/// </summary>
public static class Forecast
{
    public const string Estimate = "estimate";

    /// <param name="actual">the usage so far (hours begun, every record known)</param>
    /// <param name="wholePeriod">the same facts with every stay run on to the period's end: only its hours are read</param>
    /// <param name="trailing">the traffic of the trailing window's hours: only its bytes are read</param>
    public static AccountUsage Extend(AccountUsage actual, AccountUsage wholePeriod, AccountUsage trailing, SpendWindow window)
    {
        if (window.Ended || window.RemainingHours == 0) return actual;
        var (hoursToCome, perHours) = (window.RemainingHours, window.TrailingHours);
        decimal More(decimal trailingBytes) => perHours == 0 ? 0 : Math.Round(trailingBytes * hoursToCome / perHours, 0, MidpointRounding.AwayFromZero);

        var processed = actual.DataProcessed.Select(d => (d.Region, d.Pool)).Union(trailing.DataProcessed.Select(d => (d.Region, d.Pool)))
            .Select(k => new DataProcessedUsage(k.Region, k.Pool,
                actual.DataProcessed.Where(d => (d.Region, d.Pool) == k).Sum(d => d.Bytes) + More(trailing.DataProcessed.Where(d => (d.Region, d.Pool) == k).Sum(d => d.Bytes))))
            .OrderBy(d => d.Region, StringComparer.Ordinal).ThenBy(d => d.Pool, StringComparer.Ordinal).ToList();
        var crossAz = actual.CrossAz.Select(c => c.Region).Union(trailing.CrossAz.Select(c => c.Region))
            .Select(r => new CrossAzUsage(r, actual.CrossAz.Where(c => c.Region == r).Sum(c => c.Bytes) + More(trailing.CrossAz.Where(c => c.Region == r).Sum(c => c.Bytes))))
            .OrderBy(c => c.Region, StringComparer.Ordinal).ToList();
        return new AccountUsage(actual.AccountId, actual.Period, wholePeriod.EndpointHours, processed, crossAz);
    }

    /// <summary>How a forecast was made, as the answer labels it: always an estimate while the period runs.</summary>
    public static string Method(SpendWindow window) =>
        window.Ended
            ? "actual: the period has ended, so the forecast is the cost of every record known (not invoiced yet)"
            : window.TrailingHours == 0
                ? $"{Estimate}: endpoint-AZs provisioned at asOf stay provisioned until the period ends; no hour has begun yet, so no traffic is forecast"
                : $"{Estimate}: endpoint-AZs provisioned at asOf stay provisioned until the period ends; traffic goes on at its hourly rate of the last {Hours(window.TrailingHours)} for the {Hours(window.RemainingHours)} to come";

    static string Hours(int n) => n == 1 ? "1 hour" : $"{n} hours";
}
