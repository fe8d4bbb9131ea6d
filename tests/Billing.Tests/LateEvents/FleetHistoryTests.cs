using System.Text.Json.Nodes;
using Billing.Host;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.LateEvents;

/// <summary>
/// Spec 8 (v1.1) through the bus: a producer loads the history of an existing fleet, lifecycle dated
/// years back. The late window bounds charges, not facts. Every instant comes from the host's clock.
/// </summary>
public class FleetHistoryTests
{
    const string A = "111122223333";
    const string E1 = "vpce-0a1b2c3d4e5f60718";
    const string E2 = "vpce-11111111111111111";
    const long GiB = 1L << 30;

    static async Task<JsonNode> InvoiceJsonAsync(BillingTestHost host, string number) =>
        JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{number}"))!;

    static List<string> Lines(JsonNode invoice) => invoice["lines"]!.AsArray()
        .Select(l => $"{l!["adjusts"]?.ToString() ?? ""} {l["of"]?.ToString() ?? l["kind"]} {l["azId"]?.ToString() ?? l["tier"]?.ToString() ?? ""} {l["quantity"]} {l["amount"]}".Trim())
        .ToList();

    [Fact]
    public async Task A_fleet_loaded_with_years_of_history_bills_the_current_period_exactly_and_old_traffic_is_refused()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 2, 0, 0));
        var import = await host.ImportAsync([
            Records.Opened("h-1", "2023-04-01T00:00:00Z", A, "Old Corp", "US"),
            Records.Created("h-2", "2024-02-29T23:30:00Z", E1, A, "us-east-1", "Interface", "use1-az1", "use1-az2"),
            Records.AzRemoved("h-3", "2025-01-15T10:00:00Z", E1, "use1-az2"),
            Records.AzAdded("h-4", "2025-03-01T00:00:00Z", E1, "use1-az4"),
            Records.AzRemoved("h-5", "2025-09-01T00:00:00Z", E1, "use1-az4"),
            Records.Created("h-6", "2025-06-01T00:00:00Z", E2, A, "us-east-1", "GatewayLoadBalancer", "use1-az1"),
            Records.Deleted("h-7", "2025-12-31T00:00:00Z", E2),
            Records.Traffic("h-8", "2025-11-01T00:00:00Z", E1, "use1-az1", null, GiB),
            Records.Traffic("h-9", "2026-10-10T12:00:00Z", E1, "use1-az1", null, 10 * GiB),
        ]);
        Assert.Equal((8L, 0L, 1L), (import.Accepted, import.Duplicates, import.Rejected));
        await using (var s = host.Store.QuerySession())
            Assert.Equal("too-late", Assert.Single(await Marten.QueryableExtensions.ToListAsync(s.Query<Billing.Metering.Ingestion.DeadLetter>())).Code);

        // The endpoint created in 2024 and still provisioned bills every hour of October; its AZs
        // removed in 2025 and the GWLB endpoint deleted in 2025 bill nothing.
        Assert.Equal(
            """{"accountId":"111122223333","period":"2026-10","endpointHours":[{"region":"us-east-1","endpointType":"Interface","azId":"use1-az1","hours":744}],"dataProcessed":[{"region":"us-east-1","pool":"Interface","bytes":10737418240,"gb":"10.000000000"}],"crossAz":[]}""",
            await host.UsageJsonAsync(A, "2026-10"));
        var october = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        var invoice = await InvoiceJsonAsync(host, Assert.Single(october).Number);
        Assert.Equal(["endpoint-hours use1-az1 744 7.44", "data-processing 1 10.000000000 0.10"], Lines(invoice));
        Assert.Equal("7.54", (string)invoice["total"]!);

        // A period that was already frozen when its facts were recorded is charged nothing, and is
        // never closed, so never invoiced for the first time.
        Assert.Equal("""{"accountId":"111122223333","period":"2025-06","endpointHours":[],"dataProcessed":[],"crossAz":[]}""", await host.UsageJsonAsync(A, "2025-06"));
        var refused = await Assert.ThrowsAsync<CliException>(() => CloseCommand.RunAsync(host.Services, new CliArgs(["--period", "2025-06"]), CancellationToken.None));
        Assert.Equal("2025-06 is frozen: it is older than the late window (3 periods; the oldest open period is 2026-08), so it is never invoiced for the first time", refused.Message);
    }

    [Fact]
    public async Task A_deletion_dated_in_a_period_that_froze_before_it_arrived_adjusts_only_the_open_periods()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 8, 5, 0, 0));
        await host.ImportAsync([
            Records.Opened("o-1", "2026-06-01T00:00:00Z", A, "Example Corp", "US"),
            Records.Created("o-2", "2026-07-01T00:00:00Z", E1, A, "us-east-1", "Interface", "use1-az1"),
        ]);
        var totals = new List<string>();
        foreach (var (month, closeAt) in new[] { (7, Instant.FromUtc(2026, 8, 5, 0, 0)), (8, Instant.FromUtc(2026, 9, 2, 0, 0)), (9, Instant.FromUtc(2026, 10, 2, 0, 0)) })
        {
            host.Clock.Set(closeAt);
            var issued = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, month), CancellationToken.None);
            totals.Add($"{issued.Single().Period} {issued.Single().Total}");
        }
        Assert.Equal(["2026-07 7.44", "2026-08 7.44", "2026-09 7.20"], totals);

        // On 1 November, July froze. The endpoint's deletion, dated 20 July, arrives that day.
        host.Clock.Set(Instant.FromUtc(2026, 11, 1, 0, 30));
        var late = await host.ImportAsync([Records.Deleted("o-3", "2026-07-20T00:00:00Z", E1)]);
        Assert.Equal(1L, late.Accepted);

        // October's close looks back at July, August and September: August and September are
        // credited in full, July (frozen before the deletion was recorded) keeps what it was charged.
        host.Clock.Set(Instant.FromUtc(2026, 11, 2, 0, 0));
        var octoberInvoice = await InvoiceJsonAsync(host, (await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None)).Single().Number);
        Assert.Equal(["2026-08 endpoint-hours use1-az1 -744 -7.44", "2026-09 endpoint-hours use1-az1 -720 -7.20"], Lines(octoberInvoice));
        Assert.Equal("-14.64", (string)octoberInvoice["total"]!);
        Assert.Equal(744, (await host.UsageAsync(A, "2026-07")).EndpointHours.Single().Hours);
    }
}
