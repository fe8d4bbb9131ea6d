using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;

namespace Billing.Tests.Operations;

/// <summary>
/// Meters are process-wide by name, and a host's Prometheus exporter aggregates every meter named
/// "Billing" in the process: these tests run alone, so no other test's host adds to the counts they read.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsCollection
{
    public const string Name = "metrics, alone";
}

/// <summary>The Prometheus scrape at /metrics after real work, read as Prometheus would.</summary>
[Collection(MetricsCollection.Name)]
public class MetricsTests
{
    const string E = "vpce-66666666666666666";

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels include <paramref name="labels"/>; null when there is none.</summary>
    static double? Sample(string scrape, string name, params (string Key, string Value)[] labels) => Prometheus.Sample(scrape, name, labels);

    static async Task<string> ScrapeAsync(BillingTestHost host)
    {
        var response = await host.Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task A_batch_with_one_accepted_and_one_rejected_record_counts_each_once_with_its_code()
    {
        await using var host = await BillingTestHost.StartAsync();
        var body = "[" + Records.Created("m-1", "2026-10-01T00:00:00Z", E, "666677778888", "us-east-1", "Interface", "use1-az1") + """,{"type":"who.knows","id":"m-2"}]""";
        var posted = await host.Http.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);

        var scrape = await ScrapeAsync(host);
        Assert.Equal(1, Sample(scrape, "billing_records_total", ("status", "accepted")));
        Assert.Equal(1, Sample(scrape, "billing_records_total", ("status", "rejected"), ("code", "unknown-type")));
        Assert.Null(Sample(scrape, "billing_records_total", ("status", "duplicate")));
        Assert.Equal(1, Sample(scrape, "billing_ingest_batch_duration_seconds_count"));
        Assert.Contains("# TYPE billing_records_total counter", scrape);

        // The same batch again: both records come back as duplicates of the first decision, counted as such.
        await host.Http.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
        scrape = await Eventually.UntilAsync(() => ScrapeAsync(host), s => Sample(s, "billing_ingest_batch_duration_seconds_count") == 2,
            TimeSpan.FromSeconds(10), "the second batch in the scrape (the exporter caches a scrape for a moment)");
        Assert.Equal(1, Sample(scrape, "billing_records_total", ("status", "accepted")));
        Assert.Equal(1, Sample(scrape, "billing_records_total", ("status", "duplicate")));
        // A rejected record sent again is rejected again (its id was never accepted), with the same code.
        Assert.Equal(2, Sample(scrape, "billing_records_total", ("status", "rejected"), ("code", "unknown-type")));
    }

    [Fact]
    public async Task A_close_counts_its_invoices_and_its_duration()
    {
        await using var host = await BillingTestHost.StartAsync();
        await host.ImportAsync([.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B)]);
        var issued = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        Assert.Equal(2, issued.Count);

        var scrape = await ScrapeAsync(host);
        Assert.Equal(2, Sample(scrape, "billing_invoices_issued_total"));
        Assert.Equal(1, Sample(scrape, "billing_close_duration_seconds_count"));
        Assert.Contains("# TYPE billing_invoices_issued_total counter", scrape);
    }
}
