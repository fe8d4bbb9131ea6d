using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using NodaTime;

namespace Billing.Invoicing.Closing;

/// <summary>
/// What closing a period reads (<c>ClosePeriodHandler.LoadAsync</c> loads it): the period's usage per
/// account, the late facts of the periods it adjusts, the accounts invoiced for it already, the
/// opened accounts among the rest, and its earlier close if any. <see cref="EventSequence"/> is the
/// event-store position all of it was read at (docs/provenance.md).
/// </summary>
public sealed record PeriodFacts(
    BillingPeriod Period,
    Instant Now,
    IReadOnlyDictionary<string, AccountUsage> Usage,
    LateFacts Late,
    IReadOnlySet<string> Invoiced,
    IReadOnlyDictionary<string, AccountProfile> Profiles,
    ClosedPeriod? Closed,
    long? EventSequence = null)
{
    /// <summary>A frozen period's facts are not read: it is never closed (spec 8).</summary>
    public static PeriodFacts Frozen(BillingPeriod period, Instant now) =>
        new(period, now, new Dictionary<string, AccountUsage>(), LateFacts.None, new HashSet<string>(), new Dictionary<string, AccountProfile>(), null);
}

/// <summary>
/// A close's decision: the period's close record, the due accounts' charges in groups (one issuing
/// transaction each), and the invoices of earlier periods owed to accounts opened since.
/// </summary>
public sealed record CloseDecision(
    ClosedPeriod? Closed,
    IReadOnlyList<IReadOnlyList<AccountCharges>> Groups,
    IReadOnlyList<(string AccountId, BillingPeriod Period)> Owed)
{
    public static readonly CloseDecision Nothing = new(null, [], []);
}

/// <summary>
/// How a period is closed (spec 7-9), as pure decisions. A period is due once its end plus the grace
/// has passed and it is still open; a frozen one is never closed. Closing it issues, exactly once,
/// an invoice to every opened account with anything billable in it (Gateway endpoints are metered but
/// not billed) or with adjustments of earlier periods; each invoice carries those adjustments
/// (<see cref="LateAdjustments"/>). Closing again only issues what is still missing.
/// </summary>
public static class PeriodClose
{
    /// <summary>Accounts per issuing message: one transaction, one hold of the numbers' lock.</summary>
    public const int AccountsPerGroup = 100;

    public static bool IsDue(BillingPeriod period, Instant now, Duration grace) => period.End + grace <= now;

    /// <summary>The periods the recurring tick closes: open, due, and not closed yet (oldest first).</summary>
    public static IReadOnlyList<BillingPeriod> DuePeriods(Instant now, Duration grace, LateWindow window, IReadOnlySet<BillingPeriod> closed) =>
        window.OpenPeriods(now).Where(p => IsDue(p, now, grace) && !closed.Contains(p)).Order().ToList();

    /// <summary>When a period falls due: its end plus the grace.</summary>
    public static Instant DueAt(BillingPeriod period, Duration grace) => period.End + grace;

    /// <summary>
    /// The due periods not closed yet, each marked overdue once it has been due longer than
    /// <paramref name="maxOverdue"/>. A node that started serving less than <paramref name="maxOverdue"/>
    /// ago gives the schedule that long before it calls a period that fell due earlier overdue (a fresh
    /// install's old periods wait for the first tick), unless a close of it has failed already.
    /// </summary>
    public static IReadOnlyList<DuePeriod> NotClosed(Instant now, Duration grace, LateWindow window, IReadOnlySet<BillingPeriod> closed,
        IReadOnlyDictionary<BillingPeriod, CloseFailure> failures, Instant servingSince, Duration maxOverdue) =>
        DuePeriods(now, grace, window, closed).Select(p =>
        {
            var dueAt = DueAt(p, grace);
            var failure = failures.GetValueOrDefault(p);
            var overdue = now - dueAt > maxOverdue && (failure is not null || now - servingSince > maxOverdue);
            return new DuePeriod(p, dueAt, now - dueAt, failure, overdue);
        }).ToList();

    /// <param name="by">who asked for the close (a key, a CLI user or the schedule), recorded on the close</param>
    public static CloseDecision Decide(PeriodFacts facts, LateWindow window, PriceBook priceBook, string? by = null)
    {
        var (period, now) = (facts.Period, facts.Now);
        if (window.IsFrozen(period, now)) return CloseDecision.Nothing;
        var late = LateAdjustments.Decide(facts.Late, window, priceBook);
        var due = facts.Usage.Keys.Union(late.Adjustments.Keys)
            .Where(a => facts.Profiles.ContainsKey(a) && !facts.Invoiced.Contains(a))
            .Where(a => late.Adjustments.ContainsKey(a) || InvoiceCalculator.Lines(facts.Usage[a], priceBook).Any())
            .Order(StringComparer.Ordinal).ToList();
        var closed = (facts.Closed ?? new ClosedPeriod { Id = period.ToString(), ClosedAt = now, ClosedBy = by }) with { LastClosedAt = now, LastClosedBy = by, AccountsDue = due };
        var groups = due.Chunk(AccountsPerGroup)
            .Select(g => (IReadOnlyList<AccountCharges>)g.Select(a =>
            {
                var adjustments = late.Adjustments.GetValueOrDefault(a) ?? [];
                return new AccountCharges(a, facts.Usage.GetValueOrDefault(a) ?? AccountUsage.Empty(a, period), adjustments,
                    AccountCharges.EarlierUsage(facts.Late, a, adjustments));
            }).ToList())
            .ToList();
        return new CloseDecision(closed, groups, late.OwedInvoices);
    }
}
