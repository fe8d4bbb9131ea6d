using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Tests.Support;
using Billing.Metering;
using Marten.Events;
using Npgsql;
using NodaTime;

namespace Billing.Tests.Operations;

/// <summary>
/// /health/live and /health/ready over real HTTP on a real database, asked with no Authorization
/// header (a client of its own, not the host's), as a load balancer or an orchestrator would.
/// </summary>
public class HealthTests
{
    const string E = "vpce-77777777777777777";
    const string Account = "777788889999";

    static HttpClient Anonymous(BillingTestHost host) => new() { BaseAddress = host.Http.BaseAddress };

    static async Task<(HttpStatusCode Status, JsonNode Body)> GetAsync(HttpClient http, string path)
    {
        var response = await http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (response.StatusCode, JsonNode.Parse(text)!);
    }

    static StringContent Json(params string[] records) => new("[" + string.Join(",", records) + "]", Encoding.UTF8, "application/json");

    [Fact]
    public async Task Ready_is_200_with_every_check_healthy_and_no_lag_once_the_projections_caught_up()
    {
        await using var host = await BillingTestHost.StartAsync();
        using var http = Anonymous(host);
        var posted = await host.Http.PostAsync("/api/usage/events", Json(Records.Created("h-1", "2026-10-01T00:00:00Z", E, Account, "us-east-1", "Interface", "use1-az1")));
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        await host.Store.WaitForProjectionsAsync(TimeSpan.FromMinutes(1));

        var (status, body) = await GetAsync(http, "/health/ready");
        Assert.True(status == HttpStatusCode.OK, body.ToJsonString());
        Assert.Equal("Healthy", (string)body["status"]!);
        var checks = body["checks"]!;
        Assert.Equal(["bus", "closing", "parked", "postgresql", "projections", "queues", "waiting"], checks.AsObject().Select(c => c.Key).Order());
        Assert.All(checks.AsObject(), c => Assert.Equal("Healthy", (string)c.Value!["status"]!));
        Assert.Equal("postgresql", (string)checks["bus"]!["transport"]!);
        Assert.Equal(0, (long)checks["projections"]!["lagEvents"]!);
        Assert.Equal(0d, (double)checks["projections"]!["lagSeconds"]!);
        Assert.Equal(0, (long)checks["waiting"]!["records"]!);
        Assert.Equal(0d, (double)checks["waiting"]!["oldestSeconds"]!);
        // Every queue ingest waits in, empty; nothing parked.
        Assert.Equal("""{"usage":0,"usage_partition1":0,"usage_partition1_scheduled":0,"usage_partition2":0,"usage_partition2_scheduled":0,"usage_partition3":0,"usage_partition3_scheduled":0,"usage_partition4":0,"usage_partition4_scheduled":0}""",
            checks["queues"]!["depths"]!.ToJsonString());
        Assert.Equal((0, 0), ((long)checks["queues"]!["total"]!, (long)checks["parked"]!["messages"]!));
        // On 1 November, August and September are due and not closed (no schedule runs in the test); the node
        // started a moment ago, so the schedule still has BILLING_READY_MAX_OVERDUE_SECONDS to close them.
        Assert.Equal((2, 0), ((int)checks["closing"]!["due"]!, (int)checks["closing"]!["overdue"]!));
        Assert.Equal(["2026-08", "2026-09"], checks["closing"]!["periods"]!.AsArray().Select(p => (string)p!["period"]!));
        // Nothing of the account or the endpoint appears in the answer.
        Assert.DoesNotContain(Account, body.ToJsonString());
        Assert.DoesNotContain(E, body.ToJsonString());
    }

    [Fact]
    public async Task A_record_waiting_longer_than_the_threshold_makes_ready_503_naming_the_threshold_until_it_is_decided()
    {
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { ReadyMaxWaitingSecondsOverride = 240 });
        using var http = Anonymous(host);
        var posted = await host.Http.PostAsync("/api/usage/events", Json(Records.Traffic("h-2", "2026-10-03T00:10:00Z", E, "use1-az1", null, 1000)));
        Assert.Contains("\"pending\"", await posted.Content.ReadAsStringAsync());

        // Five minutes on the test clock: past the threshold (240 s), within the retry window (10 min), so it still waits.
        host.Clock.Advance(Duration.FromMinutes(5));
        // The record is between two retries most of the time; a reading taken while a retry runs sees it in flight.
        var (status, body) = await Eventually.UntilAsync(() => GetAsync(http, "/health/ready"), r => (long)r.Body["checks"]!["waiting"]!["records"]! == 1,
            TimeSpan.FromSeconds(30), "the waiting record seen in its retry's scheduled envelope", describe: r => r.Body.ToJsonString());
        Assert.True(status == HttpStatusCode.ServiceUnavailable, body.ToJsonString());
        Assert.Equal("Unhealthy", (string)body["status"]!);
        var waiting = body["checks"]!["waiting"]!;
        Assert.Equal(300d, (double)waiting["oldestSeconds"]!);
        Assert.Equal(1, (long)waiting["messages"]!);
        Assert.Equal("the oldest waiting record has waited 300 s, more than BILLING_READY_MAX_WAITING_SECONDS=240", (string)waiting["reason"]!);
        Assert.Equal("Healthy", (string)body["checks"]!["postgresql"]!["status"]!);

        // The endpoint's creation arrives: the next retry accepts the record and nothing waits any more.
        await host.Http.PostAsync("/api/usage/events", Json(Records.Created("h-3", "2026-10-03T00:00:00Z", E, Account, "us-east-1", "Interface", "use1-az1")));
        var after = await Eventually.UntilAsync(() => GetAsync(http, "/health/ready"), r => r.Status == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "ready again once the waiting record was accepted", describe: r => r.Body.ToJsonString());
        Assert.Equal(0, (long)after.Body["checks"]!["waiting"]!["records"]!);
    }

    [Fact]
    public async Task Live_answers_200_while_postgresql_is_unreachable_and_ready_answers_503_saying_so()
    {
        var db = new NpgsqlConnectionStringBuilder(await PostgresServer.CreateDatabaseAsync("billing_health"));
        await using var proxy = new TcpProxy(db.Host!, db.Port);
        var through = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port, Timeout = 3, CommandTimeout = 10 };
        await using var host = await BillingTestHost.StartAsync(through.ConnectionString);
        using var http = Anonymous(host);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, "/health/ready")).Status);

        await proxy.SwitchOffAsync();
        var (liveStatus, live) = await GetAsync(http, "/health/live");
        Assert.Equal(HttpStatusCode.OK, liveStatus);
        Assert.Equal("""{"status":"Healthy","checks":{}}""", live.ToJsonString());

        var (readyStatus, ready) = await GetAsync(http, "/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyStatus);
        Assert.Equal("Unhealthy", (string)ready["status"]!);
        Assert.Equal("postgresql: PostgreSQL is unreachable", (string)ready["checks"]!["postgresql"]!["reason"]!);

        proxy.SwitchOn();
        await Eventually.UntilAsync(async () => (await GetAsync(http, "/health/ready")).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "ready again once PostgreSQL is back");
    }
}
