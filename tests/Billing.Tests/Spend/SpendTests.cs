using System.Net;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Spend;

/// <summary>
/// GET /api/spend on the real service (PostgreSQL, the bus, real closes): the month-to-date cost is the
/// invoice a close at that instant issues, to the cent, adjustments of earlier periods included; once the
/// period is invoiced it is that invoice. Time is the host's test clock.
/// </summary>
public sealed class SpendTests
{
    const long GiB = 1L << 30;
    const string A = OctoberScenario.A;
    const string B = OctoberScenario.B;

    static async Task<JsonNode> SpendAsync(BillingTestHost host, string account, string period, HttpClient? client = null)
    {
        using var response = await (client ?? host.Http).GetAsync($"/api/spend/{account}/{period}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    static string Lines(JsonNode node) => node["lines"]!.ToJsonString();

    static (string?, string?, string?) Amounts(JsonNode node) => ((string?)node["subtotal"], (string?)node["tax"], (string?)node["total"]);

    [Fact]
    public async Task An_ended_period_costs_what_its_close_then_invoices_to_the_cent_and_once_closed_it_is_the_invoice()
    {
        // 1 November 00:00: October has just ended, nothing is closed.
        await using var host = await BillingTestHost.StartAsync();
        await host.ImportAsync([.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", B, "Sample K.K.", "JP")]);
        var before = new[] { await SpendAsync(host, A, "2026-10"), await SpendAsync(host, B, "2026-10") };

        var invoices = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        var after = new[] { await SpendAsync(host, A, "2026-10"), await SpendAsync(host, B, "2026-10") };

        foreach (var (account, i) in new[] { (A, 0), (B, 1) })
        {
            var invoice = JsonNode.Parse(invoices.Single(x => x.AccountId == account).Json)!;
            foreach (var spend in new[] { before[i], after[i] })
            {
                Assert.Equal(Amounts(invoice), Amounts(spend["actual"]!));
                Assert.Equal(invoice["lines"]!.ToJsonString(), Lines(spend));
                // Nothing is left to forecast in an ended period.
                Assert.Equal(Amounts(spend["actual"]!), Amounts(spend["forecast"]!));
            }
            Assert.Equal("2026-11-01T00:00:00Z", (string?)before[i]["asOf"]);
            Assert.StartsWith("actual: the period has ended", (string?)before[i]["forecast"]!["method"]);
            Assert.Equal((string?)invoice["issuedAt"], (string?)after[i]["asOf"]);
            Assert.Equal($"invoiced: the forecast is invoice {invoice["number"]}, issued {invoice["issuedAt"]}", (string?)after[i]["forecast"]!["method"]);
        }
        // Worked by hand: B is Japanese, so taxed 10%; A's Gateway endpoint is free.
        Assert.Equal(("0.21", "0.02", "0.23"), Amounts(after[1]["actual"]!));
        Assert.Equal("""{"accountId":"444455556666","period":"2026-10","currency":"USD","asOf":""" + $"\"{after[1]["asOf"]}\"",
            after[1].ToJsonString()[..after[1].ToJsonString().IndexOf(",\"actual\"", StringComparison.Ordinal)]);
    }

    [Fact]
    public async Task A_running_period_costs_the_hours_begun_and_the_records_known_with_the_adjustments_its_close_will_carry()
    {
        await using var host = await BillingTestHost.StartAsync();
        await host.ImportAsync(OctoberScenario.Lines);
        await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        // 10 November 12:30: 229 hours of November begun. A's GatewayLoadBalancer endpoint runs on; 100 GB through it on
        // the 9th, and 4 GB of October traffic, late, which November's close will carry as adjustments.
        host.Clock.Set(Instant.FromUtc(2026, 11, 10, 12, 30));
        using (var post = await host.Http.PostAsync("/api/usage/events", new StringContent("[" + string.Join(",",
                   Records.Traffic("n-1", "2026-11-09T10:00:00Z", OctoberScenario.E2, "euw1-az1", null, 100 * GiB),
                   Records.Traffic("late-1", "2026-10-01T11:30:00Z", OctoberScenario.E1, "use1-az1", "use1-az2", 4 * GiB)) + "]", System.Text.Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.OK, post.StatusCode);

        var running = await SpendAsync(host, A, "2026-11");

        Assert.Equal("2026-11-10T12:30:00Z", (string?)running["asOf"]);
        Assert.Equal(["endpoint-hours eu-west-1 229 2.52", "data-processing eu-west-1 100.000000000 0.35",
                      "adjustment us-east-1 4.000000000 0.04", "adjustment us-east-1 4.000000000 0.04", "adjustment us-east-1 4.000000000 0.04"],
            running["lines"]!.AsArray().Select(l => $"{l!["kind"]} {l["region"]} {l["quantity"]} {l["amount"]}"));
        Assert.Equal(("2.99", "0.00", "2.99"), Amounts(running["actual"]!));
        // The forecast: 720 hours (7.92), 100 GB + 100 GB x 491 / 168 hours to come = 392.261904762 GB (1.37), the same adjustments.
        Assert.Equal(("9.41", "0.00", "9.41"), Amounts(running["forecast"]!));
        Assert.StartsWith("estimate: ", (string?)running["forecast"]!["method"]);

        // Another account's key sees no spend of A, as it sees no usage of A; bad words are 400.
        using (var b = host.ClientWith((await host.CreateKeyAsync("account", B)).Token))
        using (var other = await b.GetAsync($"/api/spend/{A}/2026-11"))
        {
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
            Assert.Equal($$"""{"error":"no such resource: GET /api/spend/{{A}}/2026-11"}""", await other.Content.ReadAsStringAsync());
        }
        using (var bad = await host.Http.GetAsync($"/api/spend/{A}/November"))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // At the close (2 December): the spend just before is the invoice the close issues, adjustment lines and all.
        host.Clock.Set(Instant.FromUtc(2026, 12, 2, 0, 0));
        var ended = await SpendAsync(host, A, "2026-11");
        var invoice = JsonNode.Parse((await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 11), CancellationToken.None)).Single(i => i.AccountId == A).Json)!;
        Assert.Equal(("8.39", "0.00", "8.39"), Amounts(invoice));
        Assert.Equal(Amounts(invoice), Amounts(ended["actual"]!));
        Assert.Equal(invoice["lines"]!.ToJsonString(), Lines(ended));
        Assert.Equal(running["lines"]!.AsArray().Where(l => (string?)l!["kind"] == "adjustment").Select(l => l!.ToJsonString()),
            invoice["lines"]!.AsArray().Where(l => (string?)l!["kind"] == "adjustment").Select(l => l!.ToJsonString()));
    }
}
