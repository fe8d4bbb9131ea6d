using System.Net;
using System.Text.Json.Nodes;
using Billing.Tests.Support;
using Npgsql;
using NodaTime;

namespace Billing.Tests.Operations;

/// <summary>
/// A close that cannot succeed, for real: the test holds an EXCLUSIVE lock on the table of close
/// records, which lets the close read but not commit, and the test's database has a 1 s lock_timeout,
/// so each attempt fails with PostgreSQL's "55P03: canceling statement due to lock timeout". The schedule
/// (a tick every 2 s here) sends the close; /health/ready, the metrics and the retries are read while it
/// fails, and after the lock is let go.
/// </summary>
[Collection(MetricsCollection.Name)]
public class FailingCloseTests
{
    static readonly string[] Month = [.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B)];

    static async Task<(HttpStatusCode Status, JsonNode Body)> ReadyAsync(HttpClient http)
    {
        var response = await http.GetAsync("/health/ready");
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    static JsonNode? Period(JsonNode ready, string period) =>
        ready["checks"]!["closing"]!["periods"]!.AsArray().FirstOrDefault(p => (string)p!["period"]! == period);

    static int Failures(JsonNode ready, string period) => Period(ready, period) is { } p ? (int)p["failures"]! : 0;

    async Task<string> ScrapeAsync(BillingTestHost host) => await (await host.Http.GetAsync("/metrics")).Content.ReadAsStringAsync();

    [Fact]
    public async Task A_scheduled_close_that_cannot_commit_is_retried_makes_ready_503_naming_period_since_and_error_and_recovers_once_the_cause_is_gone()
    {
        var db = await PostgresLocks.DatabaseWithLockTimeoutAsync("billing_failing_close");
        await using var host = await BillingTestHost.StartAsync(db, s => s with { RunSchedules = true, CloseTickSeconds = 2, ReadyMaxOverdueSecondsOverride = 60 },
            now: Instant.FromUtc(2026, 11, 1, 12, 0));
        using var anonymous = new HttpClient { BaseAddress = host.Http.BaseAddress };

        // The schedule runs: within seconds it closes August and September, due long ago (nothing to invoice yet).
        await Eventually.UntilAsync(async () => await host.ScalarAsync("select count(*) from billing.mt_doc_closedperiod where id in ('2026-08', '2026-09')") == 2,
            TimeSpan.FromSeconds(60), "the schedule's first ticks closed 2026-08 and 2026-09");
        await host.ImportAsync(Month);

        NpgsqlConnection? held = await PostgresLocks.HoldAsync(db, "billing.mt_doc_closedperiod");
        try
        {
            // October fell due 30 s ago: the next tick sends its close, which reads everything and fails at its commit.
            host.Clock.Set(Instant.FromUtc(2026, 11, 2, 0, 0, 30));
            var (status, ready) = await Eventually.UntilAsync(() => ReadyAsync(anonymous), r => Failures(r.Body, "2026-10") >= 1,
                TimeSpan.FromSeconds(60), "the failed close of 2026-10 recorded", describe: r => r.Body.ToJsonString());
            // Within the threshold (60 s) the failing close is a figure, not yet a reason.
            Assert.True(status == HttpStatusCode.OK, ready.ToJsonString());
            var closing = ready["checks"]!["closing"]!;
            Assert.Equal(("Healthy", 1, 0), ((string)closing["status"]!, (int)closing["due"]!, (int)closing["overdue"]!));
            var october = Period(ready, "2026-10")!;
            Assert.Equal(("2026-11-02T00:00:00Z", 30d, false, "PostgresException: 55P03: canceling statement due to lock timeout"),
                ((string)october["dueAt"]!, (double)october["pastDueSeconds"]!, (bool)october["overdue"]!, (string)october["lastError"]!));

            // 90 s past due: overdue, so every node's readiness answers 503 with the period, since when, and the last error.
            host.Clock.Advance(Duration.FromSeconds(60));
            (status, ready) = await ReadyAsync(anonymous);
            Assert.True(status == HttpStatusCode.ServiceUnavailable, ready.ToJsonString());
            closing = ready["checks"]!["closing"]!;
            var failures = Failures(ready, "2026-10");
            var lastFailedAt = (string)Period(ready, "2026-10")!["lastFailedAt"]!;
            Assert.Equal("Unhealthy", (string)closing["status"]!);
            Assert.Equal(
                $"2026-10 is due since 2026-11-02T00:00:00Z and not closed (90 s, more than BILLING_READY_MAX_OVERDUE_SECONDS=60); its close failed {failures} times, last at {lastFailedAt}: PostgresException: 55P03: canceling statement due to lock timeout",
                (string)closing["reason"]!);
            Assert.Equal("Healthy", (string)ready["checks"]!["postgresql"]!["status"]!);
            // Retried, never parked: nothing is in Wolverine's dead letters.
            Assert.Equal(0, (long)ready["checks"]!["parked"]!["messages"]!);

            // The counter counts each failed attempt: it agrees with the attempts recorded, read between two readings
            // that agree (the exporter keeps a scrape for 300 ms, so an early one may still show the attempt before).
            var (scrape, counted) = await Eventually.UntilAsync(async () =>
            {
                var before = Failures((await ReadyAsync(anonymous)).Body, "2026-10");
                var s = await ScrapeAsync(host);
                var after = Failures((await ReadyAsync(anonymous)).Body, "2026-10");
                return (s, before == after ? after : -1);
            }, r => r.Item2 >= 2 && Prometheus.Sample(r.Item1, "billing_close_failures_total") == r.Item2, TimeSpan.FromSeconds(90),
                "billing_close_failures_total equal to the failed attempts recorded, after a retry failed too", describe: r => $"recorded {r.Item2}\n{r.Item1}");
            // One close of October is in flight however many ticks passed: the retried one, scheduled in Wolverine's inbox.
            Assert.Equal(1L, await host.ScalarAsync("select count(*) from billing.wolverine_incoming_envelopes where message_type = 'Billing.Host.Features.ClosePeriod' and status <> 'Handled'"));
            Assert.Equal(1, Prometheus.Sample(scrape, "billing_periods_overdue"));
            Assert.Equal(0, Prometheus.Sample(scrape, "billing_parked_messages"));
            Assert.Equal(0L, await host.ScalarAsync("select count(*) from billing.mt_doc_issuedinvoice"));

            // The cause goes away: the next retry closes October and issues its invoices, and readiness is 200 again.
            await held.DisposeAsync();
            held = null;
            var (okStatus, ok) = await Eventually.UntilAsync(() => ReadyAsync(anonymous), r => r.Status == HttpStatusCode.OK,
                TimeSpan.FromSeconds(60), "ready again once the close went through", describe: r => r.Body.ToJsonString());
            Assert.Equal((0, 0), ((int)ok["checks"]!["closing"]!["due"]!, (int)ok["checks"]!["closing"]!["overdue"]!));
            await Eventually.UntilAsync(async () => await host.ScalarAsync("select count(*) from billing.mt_doc_issuedinvoice where data ->> 'period' = '2026-10' and data ->> 'pdfSha256' <> ''") == 2,
                TimeSpan.FromSeconds(60), "October's two invoices issued with their PDFs");
            Assert.Equal(0L, await host.ScalarAsync("select count(*) from billing.mt_doc_closefailure"));
            var final = await Eventually.UntilAsync(() => ScrapeAsync(host), s => Prometheus.Sample(s, "billing_periods_overdue") == 0, TimeSpan.FromSeconds(30), "the overdue gauge back to 0");
            Assert.True(Prometheus.Sample(final, "billing_close_failures_total") >= counted);
        }
        finally
        {
            if (held is not null) await held.DisposeAsync();
        }
    }
}
