using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Billing.Metering;
using Billing.Tests.Support;
using Xunit;

namespace Billing.Tests.Ingesting;

/// <summary>
/// Ingest keeps endpoint timelines between batches (TimelineCache). Another writer's lifecycle
/// change must still be seen: a host that cached an endpoint decides against the AZ removal that
/// a second host on the same database recorded in between.
/// </summary>
public sealed class TimelineCacheTests
{
    const string Account = "777788889999";
    const string Endpoint = "vpce-0c0c0c0c0c0c0c0c0";

    [Fact]
    public async Task A_lifecycle_change_written_by_another_host_is_seen_by_a_host_that_cached_the_endpoint()
    {
        await using var first = await BillingTestHost.StartAsync();
        await using var second = await BillingTestHost.StartAsync(first.Settings.ConnectionString);

        var setup = await first.ImportAsync(
        [
            Records.Opened("c-1", "2026-09-20T00:00:00Z", Account),
            Records.Created("c-2", "2026-10-01T00:00:00Z", Endpoint, Account, "us-east-1", "Interface", "use1-az1", "use1-az2"),
            Records.Accepted("c-3", "2026-10-01T00:05:00Z", Endpoint),
        ]);
        Assert.Equal(3, setup.Accepted);
        // The endpoint is now in the first host's cache.
        var before = await first.ImportAsync([Records.Traffic("c-4", "2026-10-02T10:00:00Z", Endpoint, "use1-az2", null, 1_000)]);
        Assert.Equal(1, before.Accepted);

        var removal = await second.ImportAsync([Records.AzRemoved("c-5", "2026-10-05T00:00:00Z", Endpoint, "use1-az2")]);
        Assert.Equal(1, removal.Accepted);

        // Traffic through the removed AZ after the removal waits (an az-added may be in flight)
        // on the first host too, instead of being accepted from a stale cached timeline.
        var response = await first.Http.PostAsJsonAsync("/api/usage/events", new[]
        {
            JsonNode.Parse(Records.Traffic("c-6", "2026-10-06T10:00:00Z", Endpoint, "use1-az2", null, 2_000)),
            JsonNode.Parse(Records.Traffic("c-7", "2026-10-06T10:00:00Z", Endpoint, "use1-az1", null, 4_000)),
        });
        var results = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["results"]!.AsArray();
        Assert.Equal(["pending", "accepted"], results.Select(r => (string)r!["status"]!));
        Assert.Equal("az-not-provisioned", (string)results[0]!["code"]!);
        await first.Store.WaitForProjectionsAsync(TimeSpan.FromMinutes(1));

        var usage = await first.UsageAsync(Account, "2026-10");
        Assert.Equal(5_000m, Assert.Single(usage.DataProcessed).Bytes);
    }
}
