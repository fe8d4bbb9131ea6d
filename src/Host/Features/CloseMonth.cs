using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;
using Marten.Events;
using NodaTime;
using Wolverine;

namespace Billing.Host.Features;

/// <summary>Close a billing period: issue every due invoice of it, exactly once.</summary>
public sealed record ClosePeriod(BillingPeriod Period);

/// <summary>Issue one account's invoice for one period, reading its usage afresh (invoices owed for earlier periods).</summary>
public sealed record IssueInvoice(string AccountId, BillingPeriod Period);

/// <summary>
/// Issue a period's invoices for a group of accounts (one durable message per group), priced from
/// the usage and adjustments the close computed once for the whole period.
/// </summary>
public sealed record IssueInvoices(BillingPeriod Period, IReadOnlyList<AccountCharges> Accounts);

/// <summary>The recurring tick: close every period whose end + grace has passed.</summary>
public sealed record CloseDuePeriods;

/// <summary>Integration message for downstream consumers, published when an invoice is issued.</summary>
public sealed record InvoiceIssuedNotice(string Number, string AccountId, string Period, decimal Total, string Currency);

public static class Closing
{
    /// <summary>Accounts per <see cref="IssueInvoices"/> message: one transaction, one hold of the counter lock.</summary>
    public const int AccountsPerMessage = 100;

    /// <summary>
    /// The accounts of a period that are due an invoice and do not have one yet: opened, and with
    /// any billable quantity (Gateway endpoints excluded) or any adjustment of an earlier period.
    /// </summary>
    public static async Task<List<string>> DueAccountsAsync(IQuerySession session, BillingPeriod period, PriceBook priceBook,
        IReadOnlyDictionary<string, AccountUsage> usage, IReadOnlyDictionary<string, List<InvoiceLine>> adjustments, CancellationToken ct)
    {
        var candidates = usage.Keys.Union(adjustments.Keys).ToList();
        var invoiced = (await session.Query<IssuedInvoice>().Where(x => x.Period == period.ToString()).Select(x => x.AccountId).ToListAsync(ct)).ToHashSet();
        var opened = (await session.LoadManyAsync<AccountProfile>(ct, candidates)).Select(a => a.Id).ToHashSet();
        return candidates
            .Where(a => opened.Contains(a) && !invoiced.Contains(a))
            .Where(a => adjustments.ContainsKey(a) || InvoiceCalculator.Lines(usage[a], priceBook).Any())
            .Order(StringComparer.Ordinal).ToList();
    }

    public static bool IsDue(BillingPeriod period, Instant now, Duration grace) => period.End + grace <= now;
}

public static class ClosePeriodHandler
{
    /// <summary>
    /// Waits for the usage projections to catch up, computes the period's usage once, marks the
    /// period closed and fans out durable <see cref="IssueInvoices"/> messages carrying each due
    /// account's usage and adjustments, plus one <see cref="IssueInvoice"/> per invoice owed for an
    /// earlier closed period to an account opened since (spec 9: usage waits for its account).
    /// </summary>
    public static async Task<OutgoingMessages> Handle(ClosePeriod command, IDocumentSession session, PriceBook priceBook, LateAdjustments late, IClock clock, CancellationToken ct)
    {
        var period = command.Period;
        var now = clock.GetCurrentInstant();
        // A frozen period is never invoiced for the first time (spec 8); the CLI says so before asking.
        if (late.Window.IsFrozen(period, now)) return new OutgoingMessages();
        await session.DocumentStore.WaitForProjectionsAsync(TimeSpan.FromMinutes(10));
        now = clock.GetCurrentInstant();
        Dictionary<string, AccountUsage> usage;
        LateCharges lateCharges;
        // Read without the handler session's identity map, so the period's traffic documents are let go batch by batch.
        await using (var reader = session.DocumentStore.QuerySession())
        {
            lateCharges = await late.ForInvoicesOfAsync(reader, period, null, ct);
            usage = await UsageQueries.ForPeriodAsync(reader, period, late.Window, ct);
        }
        var due = await Closing.DueAccountsAsync(session, period, priceBook, usage, lateCharges.Adjustments, ct);
        var closed = await session.LoadAsync<ClosedPeriod>(period.ToString(), ct) ?? new ClosedPeriod { Id = period.ToString(), ClosedAt = now };
        closed.LastClosedAt = now;
        closed.AccountsDue = due;
        session.Store(closed);

        var outgoing = new OutgoingMessages();
        foreach (var group in due.Chunk(Closing.AccountsPerMessage))
            outgoing.Add(new IssueInvoices(period, group.Select(a => new AccountCharges(a,
                usage.GetValueOrDefault(a) ?? AccountUsage.Empty(a, period),
                lateCharges.Adjustments.GetValueOrDefault(a) ?? [])).ToList()));
        foreach (var (account, earlier) in lateCharges.OwedInvoices) outgoing.Add(new IssueInvoice(account, earlier));
        return outgoing;
    }
}

public static class IssueInvoiceHandler
{
    public static async Task<OutgoingMessages> Handle(IssueInvoice command, IDocumentSession session, InvoiceIssuer issuer, CancellationToken ct)
    {
        var result = await issuer.IssueAsync(session, command.AccountId, command.Period, ct);
        return Notices([result]);
    }

    internal static OutgoingMessages Notices(IEnumerable<IssueResult> results)
    {
        var outgoing = new OutgoingMessages();
        foreach (var result in results)
            if (result.Outcome is IssueOutcome.Issued issued)
                outgoing.Add(new InvoiceIssuedNotice(issued.Number, result.AccountId, result.Period, issued.Total, "USD"));
        return outgoing;
    }
}

public static class IssueInvoicesHandler
{
    public static async Task<OutgoingMessages> Handle(IssueInvoices command, IDocumentSession session, InvoiceIssuer issuer, CancellationToken ct)
    {
        var results = await issuer.IssueAsync(session, command.Period, command.Accounts, ct);
        return IssueInvoiceHandler.Notices(results);
    }
}

public static class CloseDuePeriodsHandler
{
    /// <summary>Closes every open period whose end + grace has passed and that is not closed yet (a frozen one never is).</summary>
    public static async Task<OutgoingMessages> Handle(CloseDuePeriods _, IQuerySession session, IClock clock, BillingSettings settings, CancellationToken ct)
    {
        var now = clock.GetCurrentInstant();
        var outgoing = new OutgoingMessages();
        for (var period = BillingPeriod.Of(now); period >= settings.LateWindow.OldestOpen(now); period = period.Previous)
            if (Closing.IsDue(period, now, settings.CloseGrace) && await session.LoadAsync<ClosedPeriod>(period.ToString(), ct) is null)
                outgoing.Add(new ClosePeriod(period));
        return outgoing;
    }
}
