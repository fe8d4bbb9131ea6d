using Billing.Invoicing.Budgets;
using Marten;
using Microsoft.Extensions.Logging;
using NodaTime;
using Wolverine;
using Wolverine.Postgresql;

namespace Billing.Host.Features.Budgets;

/// <summary>
/// Which accounts have a budget, as this process's ingest asks it for every batch (docs/spend.md): read
/// again every second, so a batch never waits on a query for it. Until the first read every account
/// counts, so nothing is missed while a node starts. Each budget the watch sees for the first time
/// (all of them when the process starts) has its account evaluated at once: that reading covers every
/// record committed before the watch knew the budget, so the second or so in which this process's
/// ingest did not yet send that account's touches loses nothing.
/// </summary>
public sealed class BudgetWatch(IDocumentStore store, IServiceScopeFactory scopes, IClock clock, ILogger<BudgetWatch> logger) : BackgroundService
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(1);

    volatile IReadOnlySet<string>? _accounts;
    readonly HashSet<Guid> _seen = [];

    /// <summary>Whether the account's spend is watched: it has a budget in force, or the budgets are not read yet.</summary>
    public bool Watches(string accountId) => _accounts is not { } accounts || accounts.Contains(accountId);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every);
        do
        {
            try
            {
                await RefreshAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // PostgreSQL away: keep what was read last (or every account) and try again next second.
                logger.LogWarning(e, "budgets could not be read; the last read stands");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public async Task RefreshAsync(CancellationToken ct)
    {
        IReadOnlyList<(Guid Id, string Account)> budgets;
        await using (var session = store.QuerySession())
            budgets = (await session.Query<Budget>().Where(b => b.DeletedAt == null).Select(b => new { b.BudgetId, b.AccountId }).ToListAsync(ct))
                .Select(b => (b.BudgetId, b.AccountId)).ToList();
        var fresh = budgets.Where(b => !_seen.Contains(b.Id)).Select(b => b.Account).Distinct(StringComparer.Ordinal).ToList();
        if (fresh.Count > 0)
        {
            using var scope = scopes.CreateScope();
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().SendAsync(new EvaluateBudgets([], clock.GetCurrentInstant(), fresh));
        }
        foreach (var b in budgets) _seen.Add(b.Id);
        _accounts = budgets.Select(b => b.Account).ToHashSet(StringComparer.Ordinal);
    }
}

/// <summary>Budgets in the service's wiring: the watch, the evaluator's memory, the evaluation queue and the hourly sweep.</summary>
public static class BudgetWiring
{
    /// <summary>The PostgreSQL queue of <see cref="EvaluateBudgets"/>: one node at a time listens, one message at a time.</summary>
    public const string Queue = "budget_evaluations";

    public static void AddServices(IServiceCollection services)
    {
        services.AddSingleton<BudgetGates>();
        services.AddSingleton<BudgetWatch>();
        services.AddHostedService(sp => sp.GetRequiredService<BudgetWatch>());
    }

    public static void Route(WolverineOptions opts, BillingSettings settings)
    {
        opts.PublishMessage<EvaluateBudgets>().ToPostgresqlQueue(Queue);
        // Exclusive: the evaluator's gates are one process's memory, and one reader of the queue keeps them whole.
        opts.ListenToPostgresqlQueue(Queue).PollingInterval(settings.QueuePollingInterval).ListenWithStrictOrdering();
        if (settings.RunSchedules) opts.Schedules.ScheduleRecurring<SweepBudgets>("0 * * * *");
    }
}
