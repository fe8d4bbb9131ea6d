using Billing.Metering;
using JasperFx.Events;
using Marten;
using NodaTime;

namespace Billing.Invoicing.Budgets;

/// <summary>Which cost a budget watches: the month-to-date cost, or its forecast to the period's end.</summary>
public enum BudgetBasis { Actual, Forecast }

public static class BudgetBases
{
    public static string Wire(this BudgetBasis basis) => basis == BudgetBasis.Actual ? "actual" : "forecast";

    public static bool TryParse(string? text, out BudgetBasis basis)
    {
        basis = text switch { "actual" => BudgetBasis.Actual, "forecast" => BudgetBasis.Forecast, _ => (BudgetBasis)(-1) };
        return Enum.IsDefined(basis);
    }
}

/// <summary>A budget was set: an amount per period of one account, with thresholds in percent of it, on one basis. The first event of "budget/{id}".</summary>
public sealed record BudgetCreated(Guid BudgetId, string AccountId, decimal Amount, IReadOnlyList<int> Thresholds, BudgetBasis Basis, string? Name, Instant CreatedAt, string? CreatedBy);

/// <summary>A budget was deleted: it alerts no more. Its alerts stay, as the record of what was raised.</summary>
public sealed record BudgetDeleted(Guid BudgetId, Instant DeletedAt, string? DeletedBy);

/// <summary>
/// An alert was raised: the only event of its stream "budget-alert/{budget}/{period}/{threshold}/{basis}",
/// so a second one for the same key cannot be stored (docs/spend.md: exactly once). <see cref="TriggeredAt"/>
/// is when the records that set off the evaluation were decided (for a sweep, when it ran), so
/// <see cref="CrossedAt"/> - TriggeredAt bounds the alert's latency from above.
/// </summary>
public sealed record BudgetAlertRaised(Guid BudgetId, string AccountId, string Period, int Threshold, BudgetBasis Basis, decimal Amount, decimal Cost,
    Instant CrossedAt, Instant TriggeredAt, Instant AsOf);

/// <summary>A budget as read: built by an inline projection of its stream.</summary>
public sealed class Budget
{
    public string Id { get; set; } = "";
    public Guid BudgetId { get; set; }
    public string AccountId { get; set; } = "";
    public decimal Amount { get; set; }
    public List<int> Thresholds { get; set; } = [];
    public BudgetBasis Basis { get; set; }
    public string? Name { get; set; }
    public Instant CreatedAt { get; set; }
    public string? CreatedBy { get; set; }
    public Instant? DeletedAt { get; set; }
    public string? DeletedBy { get; set; }

    public static string StreamKey(Guid budgetId) => $"budget/{budgetId:D}";

    public static Budget Create(BudgetCreated e) => new()
    {
        Id = StreamKey(e.BudgetId),
        BudgetId = e.BudgetId,
        AccountId = e.AccountId,
        Amount = e.Amount,
        Thresholds = e.Thresholds.ToList(),
        Basis = e.Basis,
        Name = e.Name,
        CreatedAt = e.CreatedAt,
        CreatedBy = e.CreatedBy,
    };

    public void Apply(BudgetDeleted e)
    {
        DeletedAt ??= e.DeletedAt;
        DeletedBy ??= e.DeletedBy;
    }
}

/// <summary>An alert as read: built by an inline projection of its one-event stream.</summary>
public sealed class BudgetAlert
{
    /// <summary>The type of the alert, as webhooks name it.</summary>
    public const string Type = "budget.threshold_crossed";

    public string Id { get; set; } = "";
    public Guid BudgetId { get; set; }
    public string AccountId { get; set; } = "";
    public string Period { get; set; } = "";
    public int Threshold { get; set; }
    public BudgetBasis Basis { get; set; }
    public decimal Amount { get; set; }
    public decimal Cost { get; set; }
    public Instant CrossedAt { get; set; }
    public Instant TriggeredAt { get; set; }
    public Instant AsOf { get; set; }

    /// <summary>The one stream, hence the one alert, of a (budget, period, threshold, basis).</summary>
    public static string StreamKey(Guid budgetId, BillingPeriod period, int threshold, BudgetBasis basis) => $"budget-alert/{budgetId:N}/{period}/{threshold}/{basis.Wire()}";

    public static BudgetAlert Create(IEvent<BudgetAlertRaised> e) => new()
    {
        Id = e.StreamKey!,
        BudgetId = e.Data.BudgetId,
        AccountId = e.Data.AccountId,
        Period = e.Data.Period,
        Threshold = e.Data.Threshold,
        Basis = e.Data.Basis,
        Amount = e.Data.Amount,
        Cost = e.Data.Cost,
        CrossedAt = e.Data.CrossedAt,
        TriggeredAt = e.Data.TriggeredAt,
        AsOf = e.Data.AsOf,
    };
}

/// <summary>How budgets live in Marten: two inline projections, indexed by account.</summary>
public static class BudgetStore
{
    public static void Configure(StoreOptions opts)
    {
        opts.Projections.Snapshot<Budget>(JasperFx.Events.Projections.SnapshotLifecycle.Inline);
        opts.Projections.Snapshot<BudgetAlert>(JasperFx.Events.Projections.SnapshotLifecycle.Inline);
        opts.Schema.For<Budget>().Index(x => x.AccountId);
        opts.Schema.For<BudgetAlert>().Index(x => x.BudgetId).Index(x => x.AccountId);
    }
}
