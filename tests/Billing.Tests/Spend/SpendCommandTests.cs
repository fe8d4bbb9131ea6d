using System.Globalization;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Spend;

/// <summary>
/// `billing spend` and `billing budgets create | list | delete` as real processes. They read the machine's
/// clock, so the month is the current one and the expected hours follow from the asOf the answer reports.
/// </summary>
public class SpendCommandTests
{
    static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");
    const string Account = "610000000006";
    const long GiB = 1L << 30;

    static async Task<(int Exit, string Out, string Err)> RunAsync(string db, params string[] args)
    {
        await using var child = ChildProcess.Start(Dll, db, args);
        var exit = await child.WaitForExitAsync(TimeSpan.FromMinutes(3));
        return (exit, child.StandardOutput, child.StandardError);
    }

    [Fact]
    public async Task Spend_prints_the_month_to_date_cost_and_labels_the_forecast_an_estimate()
    {
        var db = await PostgresServer.CreateDatabaseAsync("billing_spend_cli");
        var period = BillingPeriod.Of(SystemClock.Instance.GetCurrentInstant());
        var file = Path.Combine(Path.GetTempPath(), $"billing-spend-{Guid.NewGuid():N}.jsonl");
        // Provisioned since before the month: every hour of it begun so far is billed; 10 GB at its first instant.
        await File.WriteAllLinesAsync(file, [
            Records.Opened("s-1", RecordParser.Format(period.Start - Duration.FromDays(2)), Account),
            Records.Created("s-2", RecordParser.Format(period.Start - Duration.FromDays(1)), "vpce-0c0c0c0c0c0c0c0c0", Account, "us-east-1", "Interface", "use1-az1"),
            Records.Traffic("s-3", RecordParser.Format(period.Start), "vpce-0c0c0c0c0c0c0c0c0", "use1-az1", null, 10 * GiB),
        ]);
        try
        {
            var imported = await RunAsync(db, "import", file);
            Assert.True(imported.Exit == 0, imported.Err);

            var json = await RunAsync(db, "spend", "--account", Account, "--period", period.ToString(), "--json");
            Assert.True(json.Exit == 0, json.Err);
            var spend = JsonNode.Parse(json.Out)!.AsObject();
            Assert.Equal(["accountId", "period", "currency", "asOf", "actual", "forecast", "lines"], spend.Select(p => p.Key));
            Assert.Equal(["subtotal", "tax", "total"], spend["actual"]!.AsObject().Select(p => p.Key));
            Assert.Equal(["subtotal", "tax", "total", "method"], spend["forecast"]!.AsObject().Select(p => p.Key));
            var asOf = NodaTime.Text.InstantPattern.ExtendedIso.Parse((string)spend["asOf"]!).Value;
            var hours = (int)Math.Ceiling((asOf - period.Start).TotalHours);
            Assert.Equal((Account, period.ToString(), "USD"), ((string?)spend["accountId"], (string?)spend["period"], (string?)spend["currency"]));
            Assert.Equal(Money(hours * 0.01m + 0.10m), (string?)spend["actual"]!["total"]);
            Assert.Equal($"{hours}", (string?)spend["lines"]![0]!["quantity"]);
            // The whole month's hours, and the 10 GB carried at the rate of the trailing week over the hours to come
            // while the first hour is still in that week.
            var trailing = Math.Min(168, hours);
            var recent = hours <= 168 ? 10m * GiB : 0;
            var forecastGb = Math.Round((10m * GiB + Math.Round(recent * (period.Hours - hours) / trailing, 0, MidpointRounding.AwayFromZero)) / GiB, 9, MidpointRounding.AwayFromZero);
            Assert.Equal(Money(period.Hours * 0.01m + Math.Round(forecastGb * 0.01m, 2, MidpointRounding.AwayFromZero)), (string?)spend["forecast"]!["total"]);
            Assert.StartsWith("estimate: ", (string?)spend["forecast"]!["method"]);

            var table = await RunAsync(db, "spend", "--account", Account, "--period", period.ToString());
            Assert.True(table.Exit == 0, table.Err);
            Assert.Contains($"Spend of account {Account} in {period} as of ", table.Out);
            Assert.Contains("forecast (an estimate) to the period's end", table.Out);
            Assert.Contains("method: estimate: ", table.Out);

            var bad = await RunAsync(db, "spend", "--account", "12", "--period", period.ToString());
            Assert.Equal((2, "billing: '12' is not an account id (12 digits)\n"), (bad.Exit, bad.Err));
        }
        finally
        {
            File.Delete(file);
        }
    }

    static string Money(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Budgets_are_created_with_their_id_alone_on_stdout_listed_and_deleted()
    {
        var db = await PostgresServer.CreateDatabaseAsync("billing_budgets_cli");
        var created = await RunAsync(db, "budgets", "create", "--account", Account, "--amount", "100.00", "--thresholds", "80,50", "--basis", "forecast", "--name", "team cap");
        Assert.True(created.Exit == 0, created.Err);
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$", created.Out);
        var id = created.Out.Trim();
        Assert.Equal($"billing: budget of 100.00 USD a period for account {Account} 'team cap', alerting at 50%, 80% of the forecast cost; its id follows\n", created.Err);

        var listed = await RunAsync(db, "budgets", "list", "--json");
        Assert.True(listed.Exit == 0, listed.Err);
        var budget = Assert.Single(JsonNode.Parse(listed.Out)!.AsArray())!;
        Assert.Equal((id, Account, "team cap", "100.00", "USD", "[50,80]", "forecast", $"cli:{Environment.UserName}", "[]"),
            ((string?)budget["id"], (string?)budget["accountId"], (string?)budget["name"], (string?)budget["amount"], (string?)budget["currency"],
                budget["thresholds"]!.ToJsonString(), (string?)budget["basis"], (string?)budget["createdBy"], budget["alerts"]!.ToJsonString()));
        var lines = await RunAsync(db, "budgets", "list");
        Assert.Equal($"{id}  {Account}        100.00 USD  forecast at 50,80%  team cap\n1 budgets, 0 alerts\n", lines.Out);

        var refused = await RunAsync(db, "budgets", "create", "--account", Account, "--amount", "ten");
        Assert.Equal((2, "billing: amount 'ten' is not a decimal number of USD like 100.00\n"), (refused.Exit, refused.Err));

        var deleted = await RunAsync(db, "budgets", "delete", id);
        Assert.True(deleted.Exit == 0, deleted.Err);
        Assert.StartsWith($"deleted budget {id} of account {Account} at ", deleted.Out);
        Assert.Equal("0 budgets, 0 alerts\n", (await RunAsync(db, "budgets", "list")).Out);
        var again = await RunAsync(db, "budgets", "delete", id);
        Assert.Equal((2, $"billing: no budget '{id}' (billing budgets list shows them)\n"), (again.Exit, again.Err));
    }
}
