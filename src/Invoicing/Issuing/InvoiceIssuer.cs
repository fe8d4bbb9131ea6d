using System.Security.Cryptography;
using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;
using NodaTime;
using Npgsql;

namespace Billing.Invoicing.Issuing;

/// <summary>The outcome of asking for one account's invoice of one period.</summary>
public sealed record IssueResult(string AccountId, string Period, string? Number, string Outcome, decimal? Total = null);

/// <summary>
/// Issues one account's invoice for one period inside the caller's Marten session (one
/// transaction): price the usage and the adjustments for earlier closed periods, take the next gapless number of the year of issue, render the
/// PDF once, and append <see cref="InvoiceIssued"/> to the invoice's own stream. Issuing is
/// idempotent: an account that already has its invoice for the period gets nothing new. The
/// counter row is locked for the rest of the transaction, so numbers are gapless and unique
/// across processes (a rolled-back issue gives its number back).
/// </summary>
public sealed class InvoiceIssuer(PriceBook priceBook, Seller seller, LateAdjustments late, IClock clock)
{
    public const string Schema = MeteringStore.Schema;

    public async Task<IssueResult> IssueAsync(IDocumentSession session, string accountId, BillingPeriod period, CancellationToken ct)
    {
        var key = IssuedInvoice.StreamKey(accountId, period.ToString());
        var profile = await session.LoadAsync<AccountProfile>(accountId, ct);
        if (profile is null) return new(accountId, period.ToString(), null, "waiting: the account is not opened yet");

        var usage = await UsageQueries.ForAccountAsync(session, accountId, period, ct);
        var taxCountry = profile.AddressAt(period.End - Duration.Epsilon).Country;
        var adjustments = (await late.ForInvoicesOfAsync(session, period, accountId, ct)).Adjustments.GetValueOrDefault(accountId);
        var content = InvoiceCalculator.Calculate(usage, priceBook, taxCountry, adjustments);
        if (!content.IsDue) return new(accountId, period.ToString(), null, "nothing to invoice");

        await session.BeginTransactionAsync(ct);
        var connection = (NpgsqlConnection)session.Connection!;
        var issuedAt = clock.GetCurrentInstant();
        var year = issuedAt.InUtc().Year;
        var last = await LockCounterAsync(connection, year, ct);

        // Checked under the counter lock: a concurrent issuer of the same invoice has committed by now.
        if (await session.Events.FetchStreamStateAsync(key, ct) is not null)
            return new(accountId, period.ToString(), (await session.LoadAsync<IssuedInvoice>(key, ct))?.Number, "already issued");

        var number = InvoiceNumber.Format(year, last + 1);
        var address = profile.AddressAt(period.End - Duration.Epsilon);
        var invoice = Invoice.Issue(content, number, profile.Name, address, issuedAt);
        var json = InvoiceJson.Write(invoice);
        var pdf = InvoicePdf.Render(invoice, seller);

        session.QueueSqlCommand($"update {Schema}.invoice_counters set last_number = ? where year = ?", last + 1, year);
        session.QueueSqlCommand($"insert into {Schema}.invoice_pdfs (number, pdf) values (?, ?)", number, pdf);
        session.Events.StartStream<IssuedInvoice>(key, new InvoiceIssued(number, accountId, period.ToString(), issuedAt, invoice.Total, json,
            Convert.ToHexStringLower(SHA256.HashData(pdf))));
        return new(accountId, period.ToString(), number, "issued", invoice.Total);
    }

    static async Task<int> LockCounterAsync(NpgsqlConnection connection, int year, CancellationToken ct)
    {
        await using (var ensure = new NpgsqlCommand($"insert into {Schema}.invoice_counters (year, last_number) values (@year, 0) on conflict do nothing", connection))
        {
            ensure.Parameters.AddWithValue("year", year);
            await ensure.ExecuteNonQueryAsync(ct);
        }
        await using var select = new NpgsqlCommand($"select last_number from {Schema}.invoice_counters where year = @year for update", connection);
        select.Parameters.AddWithValue("year", year);
        return Convert.ToInt32(await select.ExecuteScalarAsync(ct));
    }

    public static async Task<byte[]?> PdfAsync(IQuerySession session, string number, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"select pdf from {Schema}.invoice_pdfs where number = @number", (NpgsqlConnection)session.Connection!);
        cmd.Parameters.AddWithValue("number", number);
        return await cmd.ExecuteScalarAsync(ct) as byte[];
    }
}
