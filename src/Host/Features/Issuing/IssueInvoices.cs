using Billing.Invoicing;
using Billing.Invoicing.Closing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Metering.Ingestion;
using Marten;
using NodaTime;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace Billing.Host.Features;

/// <summary>
/// Issue a period's invoices for a group of accounts (one durable message per group), priced from
/// the usage and adjustments the close computed once for the whole period, at event sequence
/// <see cref="EventSequence"/> (null in messages sent before issue 14: those invoices get no provenance).
/// </summary>
public sealed record IssueInvoices(BillingPeriod Period, IReadOnlyList<AccountCharges> Accounts, long? EventSequence = null);

/// <summary>Issue one account's invoice for one period, reading its usage afresh: an invoice owed for an earlier period (spec 9).</summary>
public sealed record IssueInvoice(string AccountId, BillingPeriod Period);

/// <summary>What became of each account asked for: the answer to <c>InvokeAsync</c>; sent from a queue it goes nowhere.</summary>
public sealed record IssueResults(IReadOnlyList<IssueResult> Results) : ISendMyself
{
    public ValueTask ApplyAsync(IMessageContext context) => ValueTask.CompletedTask;
}

/// <summary>The charges of an owed invoice, read afresh, and the issuing state.</summary>
public sealed record OwedCharges(AccountCharges Charges, IssuingState State, long EventSequence);

/// <summary>
/// Issues invoices in one transaction: <see cref="Issuing.LoadStateAsync"/> locks the year's numbers and
/// reads what exists, <see cref="InvoiceIssuer.Decide"/> (pure) prices and numbers, and the returned
/// writes commit the invoices with the new last number. The PDFs are rendered after the commit
/// (<see cref="RenderInvoicePdfs"/>), so the lock is held for the writes alone.
/// </summary>
public static class IssueInvoicesHandler
{
    public static void Configure(HandlerChain chain) => Issuing.RetryStoreFailures(chain);

    public static Task<IssuingState> LoadAsync(IssueInvoices command, IDocumentSession session, IClock clock, CancellationToken ct) =>
        Issuing.LoadStateAsync(session, command.Period, command.Accounts.Select(a => a.AccountId).ToList(), clock, ct);

    public static (IssueResults, IEnumerable<IMartenOp>, OutgoingMessages) Handle(IssueInvoices command, IssuingState state, PriceBook priceBook) =>
        Issuing.Effects(command.Period, state, InvoiceIssuer.Decide(command.Period, command.Accounts, state, priceBook, command.EventSequence));
}

public static class IssueInvoiceHandler
{
    public static void Configure(HandlerChain chain) => Issuing.RetryStoreFailures(chain);

    public static async Task<OwedCharges> LoadAsync(IssueInvoice command, IDocumentSession session, LateWindow window, PriceBook priceBook, UsagePartitions partitions, IClock clock, CancellationToken ct)
    {
        var (account, period) = (command.AccountId, command.Period);
        AccountUsage usage;
        LateFacts facts;
        long sequence;
        // One snapshot at a known event sequence, which the invoice records (docs/provenance.md).
        await using (var snapshot = await UsageSnapshot.OpenAsync(session.DocumentStore, partitions.Count, ct))
        {
            usage = await UsageQueries.ForAccountAsync(snapshot.Session, account, period, window, ct);
            facts = await LateFactsQuery.LoadAsync(snapshot.Session, period, account, window, ct);
            sequence = snapshot.EventSequence;
        }
        var adjustments = LateAdjustments.Decide(facts, window, priceBook).Adjustments.GetValueOrDefault(account) ?? [];
        var state = await Issuing.LoadStateAsync(session, period, [account], clock, ct);
        return new OwedCharges(new AccountCharges(account, usage, adjustments, AccountCharges.EarlierUsage(facts, account, adjustments)), state, sequence);
    }

    public static (IssueResults, IEnumerable<IMartenOp>, OutgoingMessages) Handle(IssueInvoice command, OwedCharges owed, PriceBook priceBook) =>
        Issuing.Effects(command.Period, owed.State, InvoiceIssuer.Decide(command.Period, [owed.Charges], owed.State, priceBook, owed.EventSequence));
}

/// <summary>The I/O both issuing handlers share: the state read under the lock, and the writes of a decision.</summary>
public static class Issuing
{
    /// <summary>A store that fails for a moment (PostgreSQL restarting, a lock held too long) is retried in place; without it one blip parked a close's issuing.</summary>
    public static void RetryStoreFailures(HandlerChain chain) => StoreUnavailable.RetryInPlace(chain);

    /// <summary>
    /// Opens the transaction, reads the payers' profiles, then locks the year's numbers
    /// (<see cref="InvoiceNumbers.LockAsync"/>) and only then reads which of the invoices exist: a
    /// concurrent issuer of the same invoice has committed by the time the lock is granted.
    /// </summary>
    public static async Task<IssuingState> LoadStateAsync(IDocumentSession session, BillingPeriod period, IReadOnlyList<string> accounts, IClock clock, CancellationToken ct)
    {
        await session.BeginTransactionAsync(ct);
        var profiles = (await session.LoadManyAsync<AccountProfile>(ct, accounts.Distinct())).ToDictionary(p => p.Id, StringComparer.Ordinal);
        var issuedAt = clock.GetCurrentInstant();
        var numbers = await InvoiceNumbers.LockAsync((NpgsqlConnection)session.Connection!, issuedAt.InUtc().Year, ct);
        var issued = await session.LoadManyAsync<IssuedInvoice>(ct, accounts.Select(a => IssuedInvoice.StreamKey(a, period)));
        return new IssuingState(profiles, issued.ToDictionary(i => i.AccountId, i => i.Number, StringComparer.Ordinal), numbers, issuedAt);
    }

    public static (IssueResults, IEnumerable<IMartenOp>, OutgoingMessages) Effects(BillingPeriod period, IssuingState state, IssueDecision decision)
    {
        var outgoing = new OutgoingMessages();
        if (decision.Invoices.Count > 0)
        {
            outgoing.Add(new RenderInvoicePdfs(decision.Invoices.Select(i => i.Number).ToList()));
            // invoice.issued for webhooks and the broker's exchange, in the transaction that commits the numbers.
            outgoing.Add(new Webhooks.RaiseBillingEvents(decision.Invoices.Select(Webhooks.BillingEvent.Issued).ToList()));
        }
        return (new IssueResults(decision.Results), Writes(period, state, decision), outgoing);
    }

    static IEnumerable<IMartenOp> Writes(BillingPeriod period, IssuingState state, IssueDecision decision)
    {
        yield return new SaveNumbers(state.Numbers, decision.Numbers);
        yield return Operations.BillingMetrics.InvoicesIssued(decision.Invoices.Count);
        foreach (var invoice in decision.Invoices)
            yield return MartenOps.StartStream<IssuedInvoice>(IssuedInvoice.StreamKey(invoice.AccountId, period),
                new InvoiceIssued(invoice.Number, invoice.AccountId, period.ToString(), invoice.IssuedAt, invoice.Total, InvoiceJson.Write(invoice), PdfSha256: ""));
    }

    sealed record SaveNumbers(NumberSequence Locked, NumberSequence After) : IMartenOp
    {
        public void Execute(IDocumentSession session) => InvoiceNumbers.Save(session, Locked, After);
    }
}
