using System.Security.Cryptography;
using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;
using NodaTime;
using Npgsql;

namespace Billing.Invoicing.Issuing;

/// <summary>What became of asking for one account's invoice of one period: a closed set of cases.</summary>
public abstract record IssueOutcome
{
    IssueOutcome() { }

    public sealed record Issued(string Number, decimal Total) : IssueOutcome
    {
        public override string ToString() => "issued";
    }

    /// <summary>Another close (or an earlier one) issued it; the number is that invoice's.</summary>
    public sealed record AlreadyIssued(string? Number) : IssueOutcome
    {
        public override string ToString() => "already issued";
    }

    /// <summary>Not yet: asked again by the next close.</summary>
    public sealed record Waiting(string Reason) : IssueOutcome
    {
        public override string ToString() => $"waiting: {Reason}";
    }

    public sealed record NothingToInvoice : IssueOutcome
    {
        public override string ToString() => "nothing to invoice";
    }
}

/// <summary>The outcome of asking for one account's invoice of one period.</summary>
public sealed record IssueResult(string AccountId, string Period, IssueOutcome Outcome)
{
    public string? Number => Outcome switch
    {
        IssueOutcome.Issued i => i.Number,
        IssueOutcome.AlreadyIssued a => a.Number,
        _ => null,
    };

    public decimal? Total => Outcome is IssueOutcome.Issued i ? i.Total : null;
}

/// <summary>
/// What a close computed for one account's invoice of its period: the account's usage and the
/// adjustment lines for earlier closed periods. Carried by the close's issuing messages so the
/// issuer prices it as is instead of reading the period's traffic again.
/// </summary>
public sealed record AccountCharges(string AccountId, AccountUsage Usage, IReadOnlyList<InvoiceLine> Adjustments);

/// <summary>
/// Issues invoices of one period inside the caller's Marten session (one transaction): price the
/// usage and the adjustments for earlier closed periods, take the next gapless numbers of the year of
/// issue, render each PDF once, and append <see cref="InvoiceIssued"/> to each invoice's own stream.
/// Issuing is idempotent: an account that already has its invoice for the period gets nothing new.
/// Numbers are taken as <see cref="InvoiceNumber"/> says (the year's counter locked for the rest of
/// the transaction: gapless and unique across processes). Everything that does not depend on
/// the number (reading, pricing) happens before the lock; under it, only the numbers, the documents
/// that print them (JSON, PDFs rendered in parallel) and the writes.
/// </summary>
public sealed class InvoiceIssuer(PriceBook priceBook, Seller seller, LateAdjustments late, IClock clock)
{
    public const string Schema = MeteringStore.Schema;

    /// <summary>One account's invoice, its usage and adjustments read afresh from the event store's projections.</summary>
    public async Task<IssueResult> IssueAsync(IDocumentSession session, string accountId, BillingPeriod period, CancellationToken ct)
    {
        if (await session.LoadAsync<AccountProfile>(accountId, ct) is null)
            return new(accountId, period.ToString(), new IssueOutcome.Waiting("the account is not opened yet"));
        var usage = await UsageQueries.ForAccountAsync(session, accountId, period, late.Window, ct);
        var adjustments = (await late.ForInvoicesOfAsync(session, period, accountId, ct)).Adjustments.GetValueOrDefault(accountId);
        return (await IssueAsync(session, period, [new AccountCharges(accountId, usage, adjustments ?? [])], ct)).Single();
    }

    /// <summary>
    /// The invoices of <paramref name="period"/> for the given accounts, priced from the charges as
    /// given, issued in one transaction in the order given (numbers follow that order).
    /// </summary>
    public async Task<IReadOnlyList<IssueResult>> IssueAsync(IDocumentSession session, BillingPeriod period, IReadOnlyList<AccountCharges> accounts, CancellationToken ct)
    {
        var results = new IssueResult?[accounts.Count];
        var profiles = (await session.LoadManyAsync<AccountProfile>(ct, accounts.Select(a => a.AccountId).Distinct()))
            .ToDictionary(p => p.Id);
        var due = new List<(int Index, AccountProfile Profile, InvoiceContent Content)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < accounts.Count; i++)
        {
            var (accountId, usage, adjustments) = accounts[i];
            if (usage.AccountId != accountId || usage.Period != period)
                throw new ArgumentException($"the charges of {accountId} hold {usage.AccountId}'s usage of {usage.Period}, not of {period}", nameof(accounts));
            if (!seen.Add(accountId))
                throw new ArgumentException($"account {accountId} appears twice among the charges", nameof(accounts));
            if (!profiles.TryGetValue(accountId, out var profile))
            {
                results[i] = new(accountId, period.ToString(), new IssueOutcome.Waiting("the account is not opened yet"));
                continue;
            }
            var content = InvoiceCalculator.Calculate(usage, priceBook, profile.AddressAt(period.End - Duration.Epsilon).Country, adjustments);
            if (!content.IsDue) results[i] = new(accountId, period.ToString(), new IssueOutcome.NothingToInvoice());
            else due.Add((i, profile, content));
        }
        if (due.Count == 0) return results.Select(r => r!).ToList();

        await session.BeginTransactionAsync(ct);
        var connection = (NpgsqlConnection)session.Connection!;
        var issuedAt = clock.GetCurrentInstant();
        var numbers = await InvoiceNumbers.LockAsync(connection, issuedAt.InUtc().Year, ct);

        // Checked under the counter lock: a concurrent issuer of the same invoice has committed by now.
        var keys = due.Select(d => IssuedInvoice.StreamKey(d.Content.AccountId, period.ToString())).ToArray();
        var existing = await ExistingStreamsAsync(connection, keys, ct);
        var issued = existing.Count == 0 ? [] : (await session.LoadManyAsync<IssuedInvoice>(ct, existing)).ToDictionary(x => x.Id);
        var invoices = new List<(int Index, Invoice Invoice)>();
        foreach (var (index, profile, content) in due)
        {
            var key = IssuedInvoice.StreamKey(content.AccountId, period.ToString());
            if (existing.Contains(key))
            {
                results[index] = new(content.AccountId, period.ToString(), new IssueOutcome.AlreadyIssued(issued.GetValueOrDefault(key)?.Number));
                continue;
            }
            var address = profile.AddressAt(period.End - Duration.Epsilon);
            invoices.Add((index, Invoice.Issue(content, numbers.Next(), profile.Name, address, issuedAt)));
        }
        if (invoices.Count == 0) return results.Select(r => r!).ToList();

        // The numbers are printed on the PDFs, so they are rendered here, on every core at once.
        var pdfs = new byte[invoices.Count][];
        Parallel.For(0, invoices.Count, new ParallelOptions { CancellationToken = ct }, i => pdfs[i] = InvoicePdf.Render(invoices[i].Invoice, seller));

        numbers.Save(session);
        for (var i = 0; i < invoices.Count; i++)
        {
            var (index, invoice) = invoices[i];
            session.QueueSqlCommand($"insert into {Schema}.invoice_pdfs (number, pdf) values (?, ?)", invoice.Number, pdfs[i]);
            session.Events.StartStream<IssuedInvoice>(IssuedInvoice.StreamKey(invoice.AccountId, period.ToString()),
                new InvoiceIssued(invoice.Number, invoice.AccountId, period.ToString(), issuedAt, invoice.Total, InvoiceJson.Write(invoice),
                    Convert.ToHexStringLower(SHA256.HashData(pdfs[i]))));
            results[index] = new(invoice.AccountId, period.ToString(), new IssueOutcome.Issued(invoice.Number, invoice.Total));
        }
        return results.Select(r => r!).ToList();
    }

    /// <summary>Which of the invoice streams exist (one query for the whole batch).</summary>
    static async Task<HashSet<string>> ExistingStreamsAsync(NpgsqlConnection connection, string[] keys, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"select id from {Schema}.mt_streams where id = any(@keys)", connection);
        cmd.Parameters.AddWithValue("keys", keys);
        var found = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) found.Add(reader.GetString(0));
        return found;
    }

    public static async Task<byte[]?> PdfAsync(IQuerySession session, string number, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"select pdf from {Schema}.invoice_pdfs where number = @number", (NpgsqlConnection)session.Connection!);
        cmd.Parameters.AddWithValue("number", number);
        return await cmd.ExecuteScalarAsync(ct) as byte[];
    }
}
