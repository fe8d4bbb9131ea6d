using System.Globalization;
using Billing.Invoicing.Spend;
using Billing.Metering;
using NodaTime;

namespace Billing.Invoicing.Budgets;

/// <summary>What a new budget is, once its terms are checked.</summary>
public sealed record BudgetTerms(string AccountId, decimal Amount, IReadOnlyList<int> Thresholds, BudgetBasis Basis, string? Name)
{
    public static readonly IReadOnlyList<int> DefaultThresholds = [50, 80, 100];
    public const int MaxThresholds = 10;
    public const int MaxThreshold = 1000;
    public const int MaxNameLength = 100;
    public const decimal MaxAmount = 1_000_000_000_000m;

    /// <summary>
    /// The terms, or why they are refused, in the words of the CLI's options and the API's keys alike:
    /// an account id of 12 digits; an amount above zero with at most two places; 1-10 distinct whole
    /// percentages of 1-1000; actual or forecast; a name of at most 100 characters, none a control one.
    /// </summary>
    public static (BudgetTerms? Terms, string? Refused) Check(string? accountId, string? amount, IReadOnlyList<string>? thresholds, string? basis, string? name)
    {
        if (accountId is not { Length: 12 } || !accountId.All(char.IsAsciiDigit)) return (null, $"'{accountId}' is not an account id (12 digits)");
        if (!decimal.TryParse(amount, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || amount!.Contains(' '))
            return (null, $"amount '{amount}' is not a decimal number of USD like 100.00");
        if (value <= 0 || value > MaxAmount) return (null, $"amount {amount} must be above 0 and at most {MaxAmount:0}");
        if (value.Scale > 2 && value != Math.Round(value, 2)) return (null, $"amount {amount} has more than two decimal places (cents)");
        var percents = new List<int>();
        foreach (var t in thresholds ?? DefaultThresholds.Select(p => p.ToString(CultureInfo.InvariantCulture)).ToList())
        {
            if (!int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > MaxThreshold)
                return (null, $"threshold '{t}' is not a whole percentage of the amount from 1 to {MaxThreshold}");
            if (percents.Contains(p)) return (null, $"threshold {p} is given twice");
            percents.Add(p);
        }
        if (percents.Count is 0 or > MaxThresholds) return (null, $"a budget has 1 to {MaxThresholds} thresholds, not {percents.Count}");
        if (!BudgetBases.TryParse(basis ?? "actual", out var b)) return (null, $"basis '{basis}' is not actual or forecast");
        if (name is { } n && (n.Length > MaxNameLength || n.Any(char.IsControl)))
            return (null, $"a budget's name is at most {MaxNameLength} characters, none of them a control character");
        return (new BudgetTerms(accountId, Math.Round(value, 2), percents.Order().ToList(), b, string.IsNullOrWhiteSpace(name) ? null : name.Trim()), null);
    }
}

/// <summary>One threshold crossed: the alert to raise, once.</summary>
public sealed record Crossing(Guid BudgetId, string AccountId, BillingPeriod Period, int Threshold, BudgetBasis Basis, decimal Amount, decimal Cost)
{
    public string StreamKey => BudgetAlert.StreamKey(BudgetId, Period, Threshold, Basis);
}

/// <summary>
/// How much more each basis's cost can grow before a threshold not alerted yet is reached (null when
/// every threshold on that basis has been): what the evaluator's gate compares worst cases with.
/// </summary>
public sealed record Headroom(decimal? Actual, decimal? Forecast)
{
    public static readonly Headroom None = new(null, null);
}

/// <summary>
/// The threshold-crossing decision (spec 11), pure: a budget's threshold t on basis b is crossed in a
/// period when that basis's total (tax included: what the invoice carries) is at least t% of the
/// amount. A budget watches the period it was set in and every later one, and the period before it
/// too while that is not closed (set on the 1st, it still sees the month whose invoice is to come). Each (budget, period, threshold, basis) is raised once: one already raised, whatever the
/// cost does after, is never raised again; every threshold reached is raised, several at once if the
/// cost jumped past them.
/// </summary>
public static class BudgetCrossings
{
    /// <summary>t% of the amount, exactly (no rounding: the cost is compared with it in cents).</summary>
    public static decimal Level(decimal amount, int threshold) => amount * threshold / 100m;

    /// <summary>The first period a budget watches: the one before it was set in.</summary>
    public static BillingPeriod FirstWatched(Budget budget) => BillingPeriod.Of(budget.CreatedAt).Previous;

    public static decimal CostOn(MonthToDate spend, BudgetBasis basis) => basis == BudgetBasis.Actual ? spend.Actual.Total : spend.Forecast.Total;

    /// <param name="budgets">the account's budgets in force (deleted ones are left out by the caller)</param>
    /// <param name="raised">the stream keys of the alerts already raised (<see cref="BudgetAlert.StreamKey"/>)</param>
    public static (IReadOnlyList<Crossing> Crossed, Headroom Left) Decide(IReadOnlyList<Budget> budgets, MonthToDate spend, IReadOnlySet<string> raised)
    {
        var crossed = new List<Crossing>();
        decimal? actual = null, forecast = null;
        foreach (var budget in budgets.Where(b => b.AccountId == spend.AccountId && b.DeletedAt is null && spend.Period >= FirstWatched(b))
                     .OrderBy(b => b.CreatedAt).ThenBy(b => b.BudgetId))
        {
            var cost = CostOn(spend, budget.Basis);
            foreach (var threshold in budget.Thresholds.Order())
            {
                var key = BudgetAlert.StreamKey(budget.BudgetId, spend.Period, threshold, budget.Basis);
                if (raised.Contains(key)) continue;
                var left = Level(budget.Amount, threshold) - cost;
                if (left <= 0)
                {
                    crossed.Add(new Crossing(budget.BudgetId, budget.AccountId, spend.Period, threshold, budget.Basis, budget.Amount, cost));
                    continue;
                }
                if (budget.Basis == BudgetBasis.Actual) actual = actual is { } a ? Math.Min(a, left) : left;
                else forecast = forecast is { } f ? Math.Min(f, left) : left;
            }
        }
        return (crossed, new Headroom(actual, forecast));
    }

    /// <summary>The alert event of a crossing decided at <paramref name="now"/>, from a read at <paramref name="asOf"/>.</summary>
    public static BudgetAlertRaised Raised(Crossing c, Instant now, Instant triggeredAt, Instant asOf) =>
        new(c.BudgetId, c.AccountId, c.Period.ToString(), c.Threshold, c.Basis, c.Amount, c.Cost, now, triggeredAt, asOf);
}
