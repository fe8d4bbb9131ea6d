using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Closing;

/// <summary>
/// The instants where a date leak would show: the first minute of a year (numbering by year of
/// issue, the late window across the year turn) and a leap day. The host's clock is set to them.
/// </summary>
public class CalendarEdgeTests
{
    const string A = "111122223333";
    const string E = "vpce-0a1b2c3d4e5f60718";

    [Fact]
    public async Task December_closed_in_the_first_minute_of_2027_is_numbered_in_2027()
    {
        var now = Instant.FromUtc(2027, 1, 1, 0, 0, 30);
        await using var host = await BillingTestHost.StartAsync(now: now);
        var import = await host.ImportAsync([
            Records.Opened("y-1", "2026-10-15T00:00:00Z", A, "Example Corp", "US"),
            Records.Created("y-2", "2026-12-31T23:10:00Z", E, A, "us-east-1", "Interface", "use1-az1"),
            Records.Traffic("y-3", "2026-12-31T23:59:59Z", E, "use1-az1", null, 1L << 30),
            Records.Traffic("y-4", "2027-01-01T00:00:10Z", E, "use1-az1", null, 1L << 30), // current period, 20 s ago
            Records.Traffic("y-5", "2026-09-30T23:59:59Z", E, "use1-az1", null, 1), // frozen since 00:00:00
        ]);
        Assert.Equal((4L, 1L), (import.Accepted, import.Rejected));

        var december = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 12), CancellationToken.None);
        var invoice = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{Assert.Single(december).Number}"))!;
        Assert.Equal(("INV-2027-000001", "2026-12", "2027-01-01T00:00:30Z"), ((string)invoice["number"]!, (string)invoice["period"]!, (string)invoice["issuedAt"]!));
        Assert.Equal("0.02", (string)invoice["total"]!); // 1 endpoint-hour 0.01 + 1 GB 0.01

        // Closing a period before the window's start across the year turn is refused.
        var refused = await Assert.ThrowsAsync<Billing.Host.CliException>(() =>
            CloseCommand.RunAsync(host.Services, new Billing.Host.CliArgs(["--period", "2026-09"]), CancellationToken.None));
        Assert.Contains("oldest open period is 2026-10", refused.Message);
    }

    [Fact]
    public async Task The_demo_in_the_first_minute_of_a_year_bills_last_december_and_numbers_in_the_new_year()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2027, 1, 1, 0, 0, 30));
        var outDir = Path.Combine(Path.GetTempPath(), $"billing-demo-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(0, await Demo.RunAsync(host.Services, new Billing.Host.CliArgs(["--accounts", "2", "--out", outDir]), CancellationToken.None));
            Assert.True(File.Exists(Path.Combine(outDir, "usage-2026-12.jsonl")));
            var pdfs = Directory.GetFiles(Path.Combine(outDir, "invoices", "2026-12")).Select(Path.GetFileName).Order().ToList();
            Assert.Equal(["INV-2027-000001.pdf", "INV-2027-000002.pdf"], pdfs);
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        }
    }

    [Fact]
    public async Task On_29_February_2028_the_leap_day_is_metered_and_january_is_numbered_in_2028()
    {
        var now = Instant.FromUtc(2028, 2, 29, 23, 59, 0);
        await using var host = await BillingTestHost.StartAsync(now: now);
        var import = await host.ImportAsync([
            Records.Opened("l-1", "2027-12-01T00:00:00Z", A, "Example Corp", "US"),
            Records.Created("l-2", "2028-01-31T23:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"),
            Records.Traffic("l-3", "2028-02-29T23:58:00Z", E, "use1-az1", null, 1L << 30),
            Records.Traffic("l-4", "2028-03-01T00:03:59Z", E, "use1-az1", null, 1), // within the 5-minute tolerance
            Records.Traffic("l-5", "2028-03-01T00:04:01Z", E, "use1-az1", null, 1), // beyond it
        ]);
        Assert.Equal((4L, 1L), (import.Accepted, import.Rejected));

        var february = await host.UsageAsync(A, "2028-02");
        Assert.Equal(696, february.EndpointHours.Single().Hours); // 29 days
        Assert.Equal(1L << 30, february.DataProcessed.Single().Bytes);

        var january = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2028, 1), CancellationToken.None);
        Assert.Equal("INV-2028-000001", Assert.Single(january).Number);
        Assert.Equal(0.01m, january[0].Total); // the last hour of January
    }
}
