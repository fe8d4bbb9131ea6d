using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using Npgsql;

namespace Billing.Tests.Closing;

/// <summary>
/// Two real `billing close` processes close the same period at once: every due account gets one
/// invoice, and each year's numbers run from 1 with no gap and no repeat. The processes read the
/// machine's clock, so the period is last month by that clock.
/// </summary>
public sealed class TwoClosingProcessesTests
{
    static readonly BillingPeriod Month = BillingPeriod.Of(NodaTime.SystemClock.Instance.GetCurrentInstant()).Previous;
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Two_processes_closing_one_period_issue_one_gapless_invoice_per_account()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");
        var file = Path.Combine(Path.GetTempPath(), $"billing-two-closers-{Guid.NewGuid():N}.jsonl");
        new SyntheticUsage(Month, accounts: 40, seed: 7, hoursBetweenTraffic: 24).WriteJsonLines(file);
        var db = await PostgresServer.CreateDatabaseAsync("billing_two_closers");
        await using (var import = ChildProcess.Start(dll, db, "import", file))
            Assert.True(await import.WaitForExitAsync(Timeout) == 0, ChildProcess.Tail(import.StandardError));

        await using var first = ChildProcess.Start(dll, db, "close", "--period", Month.ToString());
        await using var second = ChildProcess.Start(dll, db, "close", "--period", Month.ToString());
        var exits = await Task.WhenAll(first.WaitForExitAsync(Timeout), second.WaitForExitAsync(Timeout));
        Assert.True(exits.All(e => e == 0), $"{ChildProcess.Tail(first.StandardError)}\n---\n{ChildProcess.Tail(second.StandardError)}");

        var invoices = await RowsAsync(db, "select data ->> 'accountId', data ->> 'number' from billing.mt_doc_issuedinvoice");
        Assert.True(invoices.Count >= 30, $"{invoices.Count} invoices for 40 accounts");
        Assert.Equal(invoices.Count, invoices.Select(i => i[0]).Distinct().Count());
        foreach (var year in invoices.GroupBy(i => i[1][4..8]))
        {
            Assert.Equal(Enumerable.Range(1, year.Count()).Select(n => $"INV-{year.Key}-{n:D6}"), year.Select(i => i[1]).Order(StringComparer.Ordinal));
            Assert.Equal([[year.Count().ToString()]], await RowsAsync(db, $"select last_number::text from billing.invoice_counters where year = {year.Key}"));
        }
        Assert.Equal([[invoices.Count.ToString()]], await RowsAsync(db, "select count(*)::text from billing.invoice_pdfs"));
        // Each process waits for the invoices its own close found due; one that closed after the other had
        // issued part of them reports what existed when its own were done, so only one need see them all.
        var reported = new[] { first, second }.Select(p => int.Parse(System.Text.RegularExpressions.Regex.Match(p.StandardOutput, $@"closed {Month}: ([\d,]+) invoices issued").Groups[1].Value.Replace(",", ""))).ToList();
        Assert.All(reported, n => Assert.InRange(n, 1, invoices.Count));
        Assert.Equal(invoices.Count, reported.Max());
        File.Delete(file);
    }

    static async Task<List<string[]>> RowsAsync(string db, string sql)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<string[]>();
        while (await reader.ReadAsync()) rows.Add(Enumerable.Range(0, reader.FieldCount).Select(reader.GetString).ToArray());
        return rows;
    }
}
