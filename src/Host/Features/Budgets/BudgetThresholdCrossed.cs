namespace Billing.Host.Features.Budgets;

/// <summary>
/// The alert <c>budget.threshold_crossed</c>: a budget's cost on <paramref name="Basis"/> reached
/// <paramref name="Threshold"/> percent of its <paramref name="Amount"/> in <paramref name="Period"/>.
/// Sent through Wolverine's outbox exactly once per (budget, period, threshold, basis), in the
/// transaction that stores the alert (docs/spend.md). Webhooks (issue 25, item 3) handle it.
/// </summary>
/// <param name="Period">the billing period, "YYYY-MM"</param>
/// <param name="Basis">"actual" or "forecast"</param>
/// <param name="Amount">the budget's amount, a decimal string with 2 places</param>
/// <param name="Cost">the cost that crossed the threshold (total, tax included), a decimal string with 2 places</param>
/// <param name="Currency">always "USD"</param>
/// <param name="CrossedAt">when the crossing was decided, on the service's clock</param>
public sealed record BudgetThresholdCrossed(
    Guid BudgetId,
    string AccountId,
    string Period,
    int Threshold,
    string Basis,
    string Amount,
    string Cost,
    string Currency,
    NodaTime.Instant CrossedAt);
