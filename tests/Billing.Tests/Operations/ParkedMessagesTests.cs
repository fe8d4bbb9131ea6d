using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Operations;

/// <summary>
/// A message Wolverine parks for real: the close commits, but issuing its invoices cannot (the test
/// holds an EXCLUSIVE lock on the invoice counters and the database gives up waiting after 1 s), and
/// IssueInvoices has no retries, so it goes to the message store's dead letters. `billing close` stops
/// waiting and says so; /health/ready and /metrics count it; `billing dead-letters list --messages` and
/// `replay --messages --id` (real processes) show it and, once the lock is gone, send it again.
/// </summary>
[Collection(MetricsCollection.Name)]
public class ParkedMessagesTests
{
    static readonly string[] Month = [.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B)];
    static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");

    static async Task<(HttpStatusCode Status, JsonNode Body)> ReadyAsync(BillingTestHost host)
    {
        using var anonymous = new HttpClient { BaseAddress = host.Http.BaseAddress };
        var response = await anonymous.GetAsync("/health/ready");
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    static async Task<(int Exit, string Out, string Err)> RunAsync(string db, params string[] args)
    {
        await using var child = ChildProcess.Start(Dll, db, args);
        var exit = await child.WaitForExitAsync(TimeSpan.FromMinutes(2));
        return (exit, child.StandardOutput, child.StandardError);
    }

    [Fact]
    public async Task An_issue_that_fails_is_parked_counted_listed_and_sent_again_once_the_cause_is_gone()
    {
        var db = await PostgresLocks.DatabaseWithLockTimeoutAsync("billing_parked");
        await using var host = await BillingTestHost.StartAsync(db, now: Instant.FromUtc(2026, 11, 2, 1, 0));
        await host.ImportAsync(Month);

        Guid id;
        await using (var held = await PostgresLocks.HoldAsync(db, "billing.invoice_counters"))
        {
            var failed = await Assert.ThrowsAsync<CloseCommand.CloseFailed>(() => CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None));
            var match = Regex.Match(failed.Message,
                @"^2026-10 is closed, but issuing its invoices failed: PostgresException: 55P03: canceling statement due to lock timeout \(Wolverine parked IssueInvoices (?<id>[0-9a-f-]{36}); once the cause is fixed, billing dead-letters replay --messages --id \k<id> issues them\)$");
            Assert.True(match.Success, failed.Message);
            id = Guid.Parse(match.Groups["id"].Value);

            var (status, ready) = await ReadyAsync(host);
            Assert.True(status == HttpStatusCode.ServiceUnavailable, ready.ToJsonString());
            var parked = ready["checks"]!["parked"]!;
            Assert.Equal(("Unhealthy", 1L, 1L, 0L), ((string)parked["status"]!, (long)parked["messages"]!, (long)parked["store"]!, (long)parked["broker"]!));
            Assert.Equal("""{"Billing.Host.Features.IssueInvoices":1}""", parked["byType"]!.ToJsonString());
            Assert.Equal("1 messages are parked (1 IssueInvoices), more than BILLING_READY_MAX_PARKED_MESSAGES=0: nothing retries them; billing dead-letters list --messages shows them, replay --messages sends them again",
                (string)parked["reason"]!);
            // The close itself went through: October is closed, not overdue.
            Assert.Equal("Healthy", (string)ready["checks"]!["closing"]!["status"]!);
            var scrape = await (await host.Http.GetAsync("/metrics")).Content.ReadAsStringAsync();
            Assert.Equal(1, Prometheus.Sample(scrape, "billing_parked_messages"));

            var listed = await RunAsync(db, "dead-letters", "list", "--messages", "--json");
            Assert.True(listed.Exit == 0, listed.Err);
            var letter = Assert.Single(JsonNode.Parse(listed.Out)!.AsArray())!;
            Assert.Equal((id.ToString(), "store", "Billing.Host.Features.IssueInvoices", "postgresql://invoicing/", "Npgsql.PostgresException", false),
                ((string)letter["id"]!, (string)letter["where"]!, (string)letter["messageType"]!, (string)letter["queue"]!, (string)letter["exceptionType"]!, (bool)letter["replayable"]!));
            Assert.StartsWith("55P03: canceling statement due to lock timeout", (string)letter["exceptionMessage"]!);
            var lines = await RunAsync(db, "dead-letters", "list", "--messages");
            Assert.StartsWith($"{id}  store  ", lines.Out);
            Assert.EndsWith("1 parked messages\n", lines.Out);
            // The rejected records' own list is unchanged, and has none.
            Assert.Equal("0 dead letters\n", (await RunAsync(db, "dead-letters", "list")).Out);
        }
        Assert.Equal(0L, await host.ScalarAsync("select count(*) from billing.mt_doc_issuedinvoice"));

        var replayed = await RunAsync(db, "dead-letters", "replay", "--messages", "--id", id.ToString());
        Assert.True(replayed.Exit == 0, $"{replayed.Out}\n{ChildProcess.Tail(replayed.Err)}");
        Assert.Equal("replayed 1 parked messages: 1 from the message store, 0 from the broker's dead-letter queue\n", replayed.Out);
        await Eventually.UntilAsync(async () => await host.ScalarAsync("select count(*) from billing.mt_doc_issuedinvoice where data ->> 'period' = '2026-10' and data ->> 'pdfSha256' <> ''") == 2,
            TimeSpan.FromSeconds(60), "October's two invoices issued once the parked IssueInvoices went again");
        Assert.Equal(["INV-2026-000001", "INV-2026-000002"], (await host.InvoicesAsync()).Select(i => i.Number));
        var after = await ReadyAsync(host);
        Assert.True(after.Status == HttpStatusCode.OK, after.Body.ToJsonString());
        Assert.Equal(0L, (long)after.Body["checks"]!["parked"]!["messages"]!);

        var again = await RunAsync(db, "dead-letters", "replay", "--messages", "--id", id.ToString());
        Assert.Equal((2, $"billing: no parked message {id} (billing dead-letters list --messages lists them)\n"), (again.Exit, again.Err));
    }
}
