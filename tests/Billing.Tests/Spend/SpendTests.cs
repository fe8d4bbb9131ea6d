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
}
