using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Host.Features;
using Billing.Invoicing;
using Billing.Invoicing.Rerating;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Rerating;

/// <summary>What-if re-rating: the pure <see cref="Rerater"/> without a database, and POST /api/rerate on real PostgreSQL.</summary>
public class RerateTests
{
    static readonly BillingPeriod October = new(2026, 10);
    const long GiB = 1L << 30;

    /// <summary>The default book with every price doubled: each figure below can be checked by hand.</summary>
    internal static readonly string Doubled = """
        {"regions":{
          "us-east-1":[{"effectiveFrom":"2019-01","hourly":{"Interface":0.02,"GatewayLoadBalancer":0.02,"Resource":0.02},
            "dataProcessing":{"Interface":[{"upToGb":1048576,"rate":0.02},{"upToGb":5242880,"rate":0.012},{"rate":0.008}],
              "GatewayLoadBalancer":[{"rate":0.007}],"Resource":[{"upToGb":1048576,"rate":0.02},{"upToGb":5242880,"rate":0.012},{"rate":0.008}]},
            "crossAzPerGb":0.02}],
          "eu-west-1":[{"effectiveFrom":"2019-01","hourly":{"Interface":0.022,"GatewayLoadBalancer":0.022,"Resource":0.022},
            "dataProcessing":{"Interface":[{"upToGb":1048576,"rate":0.02},{"upToGb":5242880,"rate":0.012},{"rate":0.008}],
              "GatewayLoadBalancer":[{"rate":0.007}],"Resource":[{"upToGb":1048576,"rate":0.02},{"upToGb":5242880,"rate":0.012},{"rate":0.008}]},
            "crossAzPerGb":0.02}]}}
        """;

    static AccountProfile Profile(string id, string country) => new()
    {
        Id = id,
        Name = "Example Corp",
        OpenedAt = Instant.FromUtc(2026, 1, 1, 0, 0),
        Addresses = [new(Instant.FromUtc(2026, 1, 1, 0, 0), new BillingAddress("1 Main St", null, "Tokyo", "100-0001", country))],
    };

    [Fact]
    public void Rerating_prices_usage_under_the_other_book_and_keeps_the_issued_invoices_adjustments_as_they_are()
    {
        var a = new AccountUsage("111122223333", October, [new("us-east-1", EndpointType.Interface, "use1-az1", 100)], [new("us-east-1", "Interface", 10 * GiB)], []);
        var b = new AccountUsage("444455556666", October, [new("us-east-1", EndpointType.Interface, "use1-az1", 7)], [], []);
        var unopened = new AccountUsage("777788889999", October, [new("us-east-1", EndpointType.Interface, "use1-az1", 5)], [], []);
        // A's issued invoice: 1.00 + 0.10 of usage and an adjustment of September of 0.50; US, no tax.
        var adjustment = InvoiceLine.Adjustment(October.Previous, InvoiceLine.EndpointHours("us-east-1", EndpointType.Interface, "use1-az1", 50, 0.01m), 50, 0.50m);
        var content = InvoiceCalculator.Calculate(a, PriceBook.Default, "US", [adjustment]);
        var issued = Invoice.Issue(content, "INV-2026-000001", "Example Corp", Profile(a.AccountId, "US").Addresses[0].Address, Instant.FromUtc(2026, 11, 2, 0, 0));

        var result = Rerater.Rerate(October,
            new Dictionary<string, AccountUsage> { [a.AccountId] = a, [b.AccountId] = b, [unopened.AccountId] = unopened },
            new Dictionary<string, AccountProfile> { [b.AccountId] = Profile(b.AccountId, "JP") },
            new Dictionary<string, Invoice> { [a.AccountId] = issued },
            PriceBook.Default, PriceBook.Load(Doubled));

        // A: current = issued 1.60; rerated 2.00 + 0.20 + the same 0.50 = 2.70. B (JP, no invoice): 0.07 + 0.01 tax now, 0.14 + 0.01 doubled.
        Assert.Equal("""{"period":"2026-10","accounts":[{"accountId":"111122223333","current":{"subtotal":"1.60","tax":"0.00","total":"1.60"},"rerated":{"subtotal":"2.70","tax":"0.00","total":"2.70"},"difference":"1.10"},{"accountId":"444455556666","current":{"subtotal":"0.07","tax":"0.01","total":"0.08"},"rerated":{"subtotal":"0.14","tax":"0.01","total":"0.15"},"difference":"0.07"}],"totals":{"current":{"subtotal":"1.67","tax":"0.01","total":"1.68"},"rerated":{"subtotal":"2.84","tax":"0.01","total":"2.85"},"difference":"1.17"}}""",
            RerateJson.Write(result));
    }

    [Fact]
    public void A_book_without_a_region_the_usage_is_in_is_refused_with_the_region_named()
    {
        var usage = new AccountUsage("111122223333", October, [new("ap-northeast-1", EndpointType.Interface, "apne1-az1", 1)], [], []);
        var e = Assert.Throws<PriceBookException>(() => Rerater.Rerate(October,
            new Dictionary<string, AccountUsage> { [usage.AccountId] = usage },
            new Dictionary<string, AccountProfile> { [usage.AccountId] = Profile(usage.AccountId, "US") },
            new Dictionary<string, Invoice>(), PriceBook.Default, PriceBook.Load(Doubled)));
        Assert.Equal("price book: no prices for region 'ap-northeast-1' (regions: eu-west-1, us-east-1)", e.Message);
    }

    [Fact]
    public async Task The_api_rerates_a_closed_period_against_its_issued_invoices_and_writes_nothing()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 2, 0, 0));
        await host.ImportAsync([.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B, "株式会社サンプル", "JP")]);
        var invoices = await CloseCommand.CloseAsync(host.Services, October, CancellationToken.None);
        Assert.Equal(["8.54", "0.23"], invoices.OrderBy(i => i.AccountId).Select(i => i.Total.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)));

        const string fingerprint = "select count(*) from billing.mt_events";
        const string issued = "select count(*) + coalesce(sum(length(data::text)), 0) from billing.mt_doc_issuedinvoice";
        var (events, documents) = (await host.ScalarAsync(fingerprint), await host.ScalarAsync(issued));

        using var response = await host.Http.PostAsync("/api/rerate?period=2026-10", new StringContent(Doubled, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(HttpStatusCode.OK == response.StatusCode, body);
        // A (US): 744 GWLB hours 16.37, Interface hours 0.12 + 0.12, GWLB data 0.00, Interface data 0.12, cross-AZ 0.01 x 2 + 0.16 x 2.
        // B (JP): hours 0.16 x 2, data 0.10, tax 0.04.
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {"period":"2026-10","accounts":[
              {"accountId":"111122223333","current":{"subtotal":"8.54","tax":"0.00","total":"8.54"},"rerated":{"subtotal":"17.07","tax":"0.00","total":"17.07"},"difference":"8.53"},
              {"accountId":"444455556666","current":{"subtotal":"0.21","tax":"0.02","total":"0.23"},"rerated":{"subtotal":"0.42","tax":"0.04","total":"0.46"},"difference":"0.23"}],
             "totals":{"current":{"subtotal":"8.75","tax":"0.02","total":"8.77"},"rerated":{"subtotal":"17.49","tax":"0.04","total":"17.53"},"difference":"8.76"}}
            """), JsonNode.Parse(body)), body);

        using var bad = await host.Http.PostAsync("/api/rerate?period=2026-10", new StringContent("""{"regions":{"us-east-1":[{"effectiveFrom":"2019-01"}]}}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.StartsWith("price book: region 'us-east-1' version 2019-01: \"hourly\" must be an object", (string?)JsonNode.Parse(await bad.Content.ReadAsStringAsync())!["error"]);

        Assert.Equal((events, documents), (await host.ScalarAsync(fingerprint), await host.ScalarAsync(issued)));
        Assert.Equal(invoices.Select(i => i.Json), (await host.InvoicesAsync()).Select(i => i.Json));
    }

    [Fact]
    public async Task The_cli_refuses_a_missing_price_book_file_and_a_bad_period_as_usage_errors()
    {
        var missing = await Assert.ThrowsAsync<Billing.Host.CliException>(() =>
            RerateCommand.RunAsync(null!, new RerateCommand.Settings { Period = "2026-10", PriceBook = "/nonexistent/book.json" }, CancellationToken.None));
        Assert.Equal("--pricebook /nonexistent/book.json: no such file", missing.Message);
        var period = await Assert.ThrowsAsync<Billing.Host.CliException>(() =>
            RerateCommand.RunAsync(null!, new RerateCommand.Settings { Period = "Oct", PriceBook = "x.json" }, CancellationToken.None));
        Assert.Equal("'Oct' is not a billing period like 2026-10 (YYYY-MM)", period.Message);
    }
}
