using Billing.Invoicing;
using Billing.Invoicing.Closing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Metering.Ingestion;
using Marten;
using NodaTime;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace Billing.Host.Features;

/// <summary>Close a billing period: issue every due invoice of it, exactly once. <see cref="RequestedBy"/> names who asked (<see cref="Access.Actor"/>).</summary>
public sealed record ClosePeriod(BillingPeriod Period, string? RequestedBy = null);

/// <summary>
/// Closes a period: <see cref="LoadAsync"/> waits for the projections and reads the period's usage and
/// the late facts once for every account; <see cref="Handle"/> decides (<see cref="PeriodClose"/>,
/// pure) and returns the close record and the issuing messages, committed together by Wolverine.
/// </summary>
public static class ClosePeriodHandler
{
    /// <summary>A close that fails is recorded and tried again, never parked (<see cref="CloseRetries"/>).</summary>
    public static void Configure(HandlerChain chain) => chain.OnException<Exception>().ContinueWith(new CloseRetries());

    public static async Task<PeriodFacts> LoadAsync(ClosePeriod command, IDocumentSession session, LateWindow window, UsagePartitions partitions, IClock clock, CancellationToken ct)
    {
        Operations.BillingMetrics.StartClose(session);
        var period = command.Period;
        if (window.IsFrozen(period, clock.GetCurrentInstant())) return PeriodFacts.Frozen(period, clock.GetCurrentInstant());
        await session.DocumentStore.WaitForProjectionsAsync(TimeSpan.FromMinutes(10));
        var now = clock.GetCurrentInstant();

        // Read without the handler session's identity map, so the period's documents are let go batch by batch,
        // and in one snapshot at a known event sequence, which every invoice records (docs/provenance.md).
        await using var snapshot = await UsageSnapshot.OpenAsync(session.DocumentStore, partitions.Count, ct);
        var reader = snapshot.Session;
        var late = await LateFactsQuery.LoadAsync(reader, period, null, window, ct);
        var usage = await UsageQueries.ForPeriodAsync(reader, period, window, ct);
        var invoiced = (await reader.Query<IssuedInvoice>().Where(x => x.Period == period.ToString()).Select(x => x.AccountId).ToListAsync(ct))
            .ToHashSet(StringComparer.Ordinal);
        var profiles = new Dictionary<string, AccountProfile>(late.Profiles, StringComparer.Ordinal);
        foreach (var profile in await reader.LoadManyAsync<AccountProfile>(ct, usage.Keys.Where(a => !profiles.ContainsKey(a))))
            profiles[profile.Id] = profile;
        var closed = await reader.LoadAsync<ClosedPeriod>(period.ToString(), ct);
        return new PeriodFacts(period, now, usage, late, invoiced, profiles, closed, snapshot.EventSequence);
    }

    public static (IMartenOp, OutgoingMessages) Handle(ClosePeriod command, PeriodFacts facts, LateWindow window, PriceBook priceBook)
    {
        var decision = PeriodClose.Decide(facts, window, priceBook, command.RequestedBy);
        var outgoing = new OutgoingMessages();
        foreach (var group in decision.Groups) outgoing.Add(new IssueInvoices(command.Period, group, facts.EventSequence));
        foreach (var (account, earlier) in decision.Owed) outgoing.Add(new IssueInvoice(account, earlier));
        return (decision.Closed is { } closed ? new RecordClosed(closed) : MartenOps.Nothing(), outgoing);
    }

    /// <summary>The close record, and the end of the period's failed closes, in the close's transaction.</summary>
    sealed record RecordClosed(ClosedPeriod Closed) : IMartenOp
    {
        public void Execute(IDocumentSession session)
        {
            session.Store(Closed);
            session.Delete<CloseFailure>(Closed.Id);
        }
    }
}
