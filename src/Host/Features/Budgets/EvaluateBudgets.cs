using Billing.Invoicing;
using Billing.Invoicing.Budgets;
using Billing.Invoicing.Issuing;
using Billing.Invoicing.Spend;
using Billing.Metering;
using Marten;
using Marten.Exceptions;
using NodaTime;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace Billing.Host.Features.Budgets;

/// <summary>
/// Read the budgets of these accounts against their spend (docs/spend.md), on the queue
/// <see cref="BudgetWiring.Queue"/>, which one node at a time listens to, one message at a time:
/// <list type="bullet">
/// <item><see cref="Touches"/>: what a committed ingest batch added (sent through the outbox in the batch's
/// transaction, so no committed record goes unread, whatever is killed when), decided at <see cref="DecidedAt"/>;</item>
/// <item><see cref="Accounts"/>: accounts whose budgets a node has just seen (new or changed): read at once;</item>
/// <item><see cref="Sweep"/>: every budgeted account's running period, each hour (endpoint-hours grow with time alone).</item>
/// </list>
/// </summary>
public sealed record EvaluateBudgets(IReadOnlyList<SpendTouch> Touches, Instant DecidedAt, IReadOnlyList<string>? Accounts = null, bool Sweep = false);

/// <summary>The hourly tick of <c>billing serve</c>: read every budget, as time alone raises endpoint-hours.</summary>
public sealed record SweepBudgets;

/// <summary>
/// What an evaluation read: the budgets in force, the exact spend of the (account, period)s it had to
/// read, the alerts raised so far, and the generation of the evaluator's row it writes (<see cref="BudgetGates"/>).
/// </summary>
public sealed record BudgetReadings(Instant Now, Instant TriggeredAt, IReadOnlyList<Budget> Budgets, IReadOnlyList<MonthToDate> Spend, IReadOnlySet<string> Raised, long Generation = 0)
{
    public static BudgetReadings Nothing(Instant now, Instant triggeredAt, long generation) => new(now, triggeredAt, [], [], new HashSet<string>(), generation);
}

public static class SweepBudgetsHandler
{
    public static EvaluateBudgets Handle(SweepBudgets _, IClock clock) => new([], clock.GetCurrentInstant(), Sweep: true);
}

/// <summary>
/// Raises each budget alert exactly once. <see cref="LoadAsync"/> reads, where <see cref="BudgetGates"/>
/// says a threshold may have been reached, the exact month-to-date cost and forecast
/// (<see cref="SpendQuery"/>, the invoice's own pricing) and the alerts raised already;
/// <see cref="Handle"/> decides purely (<see cref="BudgetCrossings"/>) and returns, per crossing, the
/// start of the alert's own stream and its <see cref="BudgetThresholdCrossed"/>, committed in one
/// transaction through Wolverine's outbox. Exactly once is the database's: the stream's key is the
/// (budget, period, threshold, basis), so a second start of it fails and rolls back its message with
/// it, whichever process, retry or replay tried; read again, the alert is found raised.
/// </summary>
public static class EvaluateBudgetsHandler
{
    public static void Configure(HandlerChain chain)
    {
        // Another evaluator (a node taking over, a retry) raised one of these alerts first: read again, and it is raised already.
        chain.OnException<ExistingStreamIdCollisionException>().RetryTimes(5);
        chain.OnException<NpgsqlException>().RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
    }

    public static async Task<BudgetReadings> LoadAsync(EvaluateBudgets message, Envelope envelope, IDocumentSession session, BudgetGates gates, IClock clock,
        LateWindow window, PriceBook priceBook, CancellationToken ct)
    {
        // One evaluation at a time, whichever node: the evaluator's row is locked until this one commits.
        await session.BeginTransactionAsync(ct);
        var (writer, last) = await BudgetGates.LastWriterAsync((NpgsqlConnection)session.Connection!, ct);
        var generation = gates.Continue(writer, last);
        var now = clock.GetCurrentInstant();
        var current = BillingPeriod.Of(now);
        var open = window.OpenPeriods(now).ToList();
        gates.Prune(open[^1]);
        var closed = (await session.LoadManyAsync<ClosedPeriod>(ct, open.Select(p => p.ToString()))).Select(c => c.Period).ToHashSet();
        var unclosed = open.Where(p => !closed.Contains(p)).ToList();

        var asked = message.Touches.Select(t => t.AccountId).Concat(message.Accounts ?? []).Distinct(StringComparer.Ordinal).ToArray();
        var budgets = message.Sweep
            ? await session.Query<Budget>().Where(b => b.DeletedAt == null).ToListAsync(ct)
            : asked.Length == 0 ? [] : await session.Query<Budget>().Where(b => b.DeletedAt == null && b.AccountId.IsOneOf(asked)).ToListAsync(ct);
        var budgeted = budgets.Select(b => b.AccountId).ToHashSet(StringComparer.Ordinal);
        foreach (var account in asked.Where(a => !budgeted.Contains(a))) gates.Forget(account);
        if (budgeted.Count == 0) return BudgetReadings.Nothing(now, message.DecidedAt, generation);

        // A retry reads everything again: its first attempt may have read and then failed to commit.
        var retry = envelope.Attempts > 1;
        var wanted = new HashSet<(string Account, BillingPeriod Period)>();
        foreach (var account in (message.Accounts ?? []).Where(budgeted.Contains))
        {
            gates.Forget(account);
            // A budget just set watches the running period and, until its close, the one just ended.
            foreach (var p in unclosed.Where(p => p == current || p == current.Previous)) wanted.Add((account, p));
        }
        if (message.Sweep && unclosed.Contains(current))
            foreach (var account in budgeted) wanted.Add((account, current));
        foreach (var touch in message.Touches.Where(t => budgeted.Contains(t.AccountId)))
            foreach (var period in Landing(touch, unclosed))
                if (gates.Admit(touch, period, now) | retry) wanted.Add((touch.AccountId, period));
        // Only the periods some budget of the account watches are read.
        var firstWatched = budgets.GroupBy(b => b.AccountId).ToDictionary(g => g.Key, g => g.Min(BudgetCrossings.FirstWatched), StringComparer.Ordinal);
        wanted.RemoveWhere(w => w.Period < firstWatched[w.Account]);
        if (wanted.Count == 0) return BudgetReadings.Nothing(now, message.DecidedAt, generation);

        var spend = new List<MonthToDate>();
        foreach (var group in wanted.GroupBy(w => w.Period))
            spend.AddRange((await SpendQuery.ForAccountsAsync(session, group.Select(w => w.Account).ToList(), group.Key, now, window, priceBook, ct)).Values);
        var ids = budgets.Select(b => b.BudgetId).ToArray();
        var raised = (await session.Query<BudgetAlert>().Where(a => a.BudgetId.IsOneOf(ids)).Select(a => a.Id).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        return new BudgetReadings(now, message.DecidedAt, budgets, spend, raised, generation);
    }

    /// <summary>
    /// The periods a touch's cost lands in: its own while it is not closed; a closed one's lands on the
    /// next close's invoice as an adjustment (spec 8). A lifecycle record may change every period from its own on.
    /// </summary>
    public static IEnumerable<BillingPeriod> Landing(SpendTouch touch, IReadOnlyList<BillingPeriod> unclosed) =>
        touch.Lifecycle ? unclosed.Where(p => p >= touch.Period)
        : unclosed.Contains(touch.Period) ? [touch.Period]
        : unclosed.Where(p => p > touch.Period);

    public static (IEnumerable<IMartenOp>, OutgoingMessages) Handle(EvaluateBudgets _, BudgetReadings readings, BudgetGates gates)
    {
        var ops = new List<IMartenOp>();
        var outgoing = new OutgoingMessages();
        var remembered = new List<(MonthToDate Spend, Headroom Left)>();
        foreach (var spend in readings.Spend)
        {
            var (crossed, left) = BudgetCrossings.Decide(readings.Budgets.Where(b => b.AccountId == spend.AccountId).ToList(), spend, readings.Raised);
            remembered.Add((spend, left));
            foreach (var c in crossed)
            {
                var raised = BudgetCrossings.Raised(c, readings.Now, readings.TriggeredAt, spend.AsOf);
                ops.Add(MartenOps.StartStream<BudgetAlert>(c.StreamKey, raised));
                outgoing.Add(new BudgetThresholdCrossed(c.BudgetId, c.AccountId, c.Period.ToString(), c.Threshold, c.Basis.Wire(),
                    Money.Format(c.Amount), Money.Format(c.Cost), Money.Currency, readings.Now));
            }
        }
        ops.Add(new RememberReadings(gates, remembered, readings.Now, readings.Generation));
        return (ops, outgoing);
    }

    /// <summary>
    /// The evaluator's row moves to this process with the evaluation, and the readings go into the gates
    /// only once what they decided is committed: a reading whose alerts rolled back must be read again on
    /// the retry, not skipped as if raised.
    /// </summary>
    sealed record RememberReadings(BudgetGates Gates, IReadOnlyList<(MonthToDate Spend, Headroom Left)> Readings, Instant Now, long Generation) : IMartenOp
    {
        public void Execute(IDocumentSession session)
        {
            Gates.MoveWriter(session, Generation);
            session.Listeners.Add(new OnCommit(Apply));
        }

        void Apply()
        {
            foreach (var (spend, left) in Readings) Gates.Remember(spend.AccountId, spend, left, Now);
        }
    }

    sealed class OnCommit(Action apply) : DocumentSessionListenerBase
    {
        public override Task AfterCommitAsync(IDocumentSession session, Marten.Services.IChangeSet commit, CancellationToken token)
        {
            apply();
            return Task.CompletedTask;
        }
    }
}
