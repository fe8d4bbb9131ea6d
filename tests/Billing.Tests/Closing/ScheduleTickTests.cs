using System.Net;
using System.Text.Json.Nodes;
using Billing.Invoicing.Closing;
using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Closing;

/// <summary>
/// A real `serve` with BILLING_CLOSE_TICK_SECONDS=1: the schedule closes the due periods within
/// seconds, as the as-deployed test and an impatient operator need (the production default stays 10
/// minutes). The process reads the machine's clock, so the due periods are computed from it too.
/// </summary>
public sealed class ScheduleTickTests
{
    [Fact]
    public async Task A_serve_with_a_one_second_tick_closes_every_due_period_within_seconds()
    {
        var db = await PostgresServer.CreateDatabaseAsync("billing_tick");
        var port = Ports.Free();
        var now = SystemClock.Instance.GetCurrentInstant();
        // Due by the time the process ticks (a period falling due within the next minute is left out: it may or may not be closed).
        var due = PeriodClose.DuePeriods(now, Duration.FromHours(24), LateWindow.Default, new HashSet<BillingPeriod>())
            .Where(p => PeriodClose.DueAt(p, Duration.FromHours(24)) < now - Duration.FromMinutes(1)).Select(p => p.ToString()).ToList();
        Assert.NotEmpty(due);
        await using var serve = ChildProcess.Start(Path.Combine(AppContext.BaseDirectory, "billing.dll"), db, new Dictionary<string, string>
        {
            ["BILLING_URLS"] = $"http://127.0.0.1:{port}",
            ["BILLING_CLOSE_TICK_SECONDS"] = "1",
        }, "serve");

        var closed = await Eventually.UntilAsync(async () => await RowsAsync(db), rows => due.All(rows.ContainsKey),
            TimeSpan.FromSeconds(90), $"the schedule closed {string.Join(", ", due)}", describe: rows => $"closed: {string.Join(", ", rows.Keys)}\n{ChildProcess.Tail(serve.StandardError)}");
        Assert.All(due, p => Assert.Equal("schedule", closed[p]));

        // Readiness agrees: nothing due is left open, so nothing is overdue.
        using var http = new HttpClient();
        var ready = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/health/ready"))!;
        Assert.Equal(0, (int)ready["checks"]!["closing"]!["overdue"]!);
        Assert.DoesNotContain(ready["checks"]!["closing"]!["periods"]!.AsArray(), p => due.Contains((string)p!["period"]!));
    }

    [Fact]
    public async Task A_tick_that_cannot_be_a_schedule_stops_serve_before_it_starts_naming_the_setting()
    {
        // Nothing listens on port 1: serve must refuse before it connects anywhere.
        await using var serve = ChildProcess.Start(Path.Combine(AppContext.BaseDirectory, "billing.dll"), "Host=127.0.0.1;Port=1;Username=nobody;Timeout=1",
            new Dictionary<string, string> { ["BILLING_CLOSE_TICK_SECONDS"] = "45" }, "serve");
        Assert.Equal(2, await serve.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        Assert.Equal("billing: BILLING_CLOSE_TICK_SECONDS=45 cannot be a schedule: it must divide a minute, an hour or a day evenly (1-30 s, 1-30 min, 1-24 h in seconds, e.g. 600)\n",
            serve.StandardError);
    }

    static async Task<Dictionary<string, string>> RowsAsync(string db)
    {
        await using var connection = new Npgsql.NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("select id, data ->> 'closedBy' from billing.mt_doc_closedperiod", connection);
        var rows = new Dictionary<string, string>();
        try
        {
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) rows[reader.GetString(0)] = reader.GetString(1);
        }
        catch (Npgsql.PostgresException e) when (e.SqlState == "42P01")
        {
            // The schema is not applied yet.
        }
        return rows;
    }
}
