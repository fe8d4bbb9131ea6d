using System.Net;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;
using Wolverine;
using Wolverine.Tracking;
using PdfPigDocument = UglyToad.PdfPig.PdfDocument;

namespace Billing.Tests.Closing;

/// <summary>Closing a period: from a month of events on the bus to issued, numbered, immutable invoices.</summary>
public class ClosePeriodTests
{
    static readonly BillingPeriod October = new(2026, 10);

    static readonly string[] Month = [.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B, "株式会社サンプル", "JP")];

    // A (US, no tax): eu-west-1 GWLB 744 h x 0.011 = 8.184 -> 8.18; 0.5 GB GWLB x 0.0035 = 0.00175 -> 0.00;
    // cross-AZ 0.5 GB x 0.01 = 0.005 -> 0.01 each way. us-east-1 Interface 6 h x 0.01 = 0.06 per AZ;
    // 6 GB tier 1 x 0.01 = 0.06; cross-AZ 8 GB x 0.01 = 0.08 each way; the Gateway endpoint is absent.
    // Subtotal 8.18 + 0.01 + 0.01 + 0.06 + 0.06 + 0.06 + 0.08 + 0.08 = 8.54.
    const string ExpectedALines = """[{"kind":"endpoint-hours","region":"eu-west-1","endpointType":"GatewayLoadBalancer","azId":"euw1-az1","quantity":"744","unit":"hours","rate":"0.011","amount":"8.18"},{"kind":"data-processing","region":"eu-west-1","pool":"GatewayLoadBalancer","tier":1,"quantity":"0.500000000","unit":"GB","rate":"0.0035","amount":"0.00"},{"kind":"cross-az-out","region":"eu-west-1","quantity":"0.500000000","unit":"GB","rate":"0.01","amount":"0.01"},{"kind":"cross-az-in","region":"eu-west-1","quantity":"0.500000000","unit":"GB","rate":"0.01","amount":"0.01"},{"kind":"endpoint-hours","region":"us-east-1","endpointType":"Interface","azId":"use1-az1","quantity":"6","unit":"hours","rate":"0.01","amount":"0.06"},{"kind":"endpoint-hours","region":"us-east-1","endpointType":"Interface","azId":"use1-az2","quantity":"6","unit":"hours","rate":"0.01","amount":"0.06"},{"kind":"data-processing","region":"us-east-1","pool":"Interface","tier":1,"quantity":"6.000000000","unit":"GB","rate":"0.01","amount":"0.06"},{"kind":"cross-az-out","region":"us-east-1","quantity":"8.000000000","unit":"GB","rate":"0.01","amount":"0.08"},{"kind":"cross-az-in","region":"us-east-1","quantity":"8.000000000","unit":"GB","rate":"0.01","amount":"0.08"}]""";

    static async Task<byte[]> PdfAsync(BillingTestHost host, string number)
    {
        await using var session = host.Store.QuerySession();
        return (await InvoicePdfsTable.ReadAsync(session, number, CancellationToken.None))!;
    }

    [Fact]
    public async Task A_closed_month_gives_the_hand_computed_invoices_with_readable_pdfs()
    {
        await using var host = await BillingTestHost.StartAsync();
        await host.ImportAsync(Month);
        var issued = await CloseCommand.CloseAsync(host.Services, October, CancellationToken.None);
        Assert.Equal(["INV-2026-000001", "INV-2026-000002"], issued.Select(i => i.Number));

        var a = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{issued.Single(i => i.AccountId == OctoberScenario.A).Number}"))!;
        Assert.Equal("2026-10", (string)a["period"]!);
        Assert.Equal("USD", (string)a["currency"]!);
        Assert.Equal("2026-11-01T00:00:00Z", (string)a["issuedAt"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(ExpectedALines), a["lines"]), a["lines"]!.ToJsonString());
        Assert.Equal(("8.54", "US", "0.00", "8.54"), ((string)a["subtotal"]!, (string)a["taxCountry"]!, (string)a["tax"]!, (string)a["total"]!));

        // B pays E1's hours 16-23 and 5 GB: 0.08 + 0.08 + 0.05 = 0.21; JP consumption tax 10% of 0.21 = 0.021 -> 0.02.
        var b = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{issued.Single(i => i.AccountId == OctoberScenario.B).Number}"))!;
        Assert.Equal(("0.21", "JP", "0.10", "0.02", "0.23"), ((string)b["subtotal"]!, (string)b["taxCountry"]!, (string)b["taxRate"]!, (string)b["tax"]!, (string)b["total"]!));

        var list = JsonNode.Parse(await host.Http.GetStringAsync("/api/invoices?period=2026-10"))!.AsArray();
        Assert.Equal(["INV-2026-000001", "INV-2026-000002"], list.Select(i => (string)i!["number"]!));

        var pdfResponse = await host.Http.GetAsync($"/api/invoices/{(string)b["number"]!}/pdf");
        Assert.Equal(HttpStatusCode.OK, pdfResponse.StatusCode);
        Assert.Equal("application/pdf", pdfResponse.Content.Headers.ContentType!.MediaType);
        using var pdf = PdfPigDocument.Open(await pdfResponse.Content.ReadAsByteArrayAsync());
        var words = pdf.GetPages().SelectMany(p => p.GetWords()).Select(w => w.Text).ToList();
        Assert.Contains((string)b["number"]!, words);
        Assert.Contains("株式会社サンプル", string.Concat(words));
        Assert.Contains("0.21", words);
        Assert.Contains("0.23", words);

        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.GetAsync("/api/invoices/INV-2026-000099")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await host.Http.GetAsync("/api/invoices?period=October")).StatusCode);

        // Downstream consumers got one InvoiceIssued notice per invoice on their queue.
        Assert.Equal(2L, await host.ScalarAsync("select count(*) from billing_queues.wolverine_queue_invoice_issued"));
    }

    [Fact]
    public async Task Closing_twice_and_from_two_hosts_at_once_issues_one_gapless_invoice_per_account()
    {
        var lines = new SyntheticUsage(October, accounts: 12, seed: 5, hoursBetweenTraffic: 24).Records().Select(Billing.Events.RecordJson.Serialize).ToList();
        await using var first = await BillingTestHost.StartAsync();
        await first.ImportAsync(lines);
        await using var second = await BillingTestHost.StartAsync(first.Settings.ConnectionString);

        // Tracked on both hosts: the session ends only once every message the closes sent (duplicate
        // IssueInvoices included, whichever host takes them off the queue) has been handled.
        await first.TrackBus(TimeSpan.FromMinutes(2)).AlsoTrack(second.App).ExecuteAndWaitAsync(async Task (IMessageContext bus) =>
        {
            await Task.WhenAll(
                CloseCommand.CloseAsync(first.Services, October, CancellationToken.None),
                CloseCommand.CloseAsync(second.Services, October, CancellationToken.None),
                bus.PublishAsync(new ClosePeriod(new BillingPeriod(2026, 10))).AsTask());
            await CloseCommand.CloseAsync(second.Services, October, CancellationToken.None);
        });

        var invoices = await first.InvoicesAsync();
        Assert.True(invoices.Count >= 10, $"{invoices.Count} invoices");
        Assert.Equal(invoices.Count, invoices.Select(i => i.AccountId).Distinct().Count());
        Assert.Equal(Enumerable.Range(1, invoices.Count).Select(n => $"INV-2026-{n:D6}"), invoices.Select(i => i.Number));
        Assert.Equal((long)invoices.Count, await first.ScalarAsync("select last_number from billing.invoice_counters where year = 2026"));
        Assert.Equal((long)invoices.Count, await first.ScalarAsync("select count(*) from billing.invoice_pdfs"));
    }

    [Fact]
    public async Task An_issued_invoice_is_byte_identical_after_a_replay_and_a_second_close()
    {
        await using var host = await BillingTestHost.StartAsync();
        await host.ImportAsync(Month);
        var issued = await CloseCommand.CloseAsync(host.Services, October, CancellationToken.None);
        var before = new Dictionary<string, (string Json, byte[] Pdf)>();
        foreach (var i in issued) before[i.Number] = (await host.Http.GetStringAsync($"/api/invoices/{i.Number}"), await PdfAsync(host, i.Number));

        // Later the clock moves on and a replay rebuilds every projection; then the period is closed again.
        host.Clock.Advance(Duration.FromDays(3));
        await using (var replay = await BillingTestHost.StartAsync(host.Settings.ConnectionString, s => s with { RunDaemon = false }))
            await ReplayProjections.ReplayAsync(replay.Store, host.Settings.ConnectionString, CancellationToken.None);
        var again = await CloseCommand.CloseAsync(host.Services, October, CancellationToken.None);

        Assert.Equal(before.Keys.Order(), again.Select(i => i.Number).Order());
        foreach (var (number, (json, pdf)) in before)
        {
            Assert.Equal(json, await host.Http.GetStringAsync($"/api/invoices/{number}"));
            Assert.Equal(pdf, await PdfAsync(host, number));
        }
    }
}
