using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;

namespace Billing.Tests.LateEvents;

/// <summary>
/// Spec 8 (v1.2) through the bus, on PostgreSQL: traffic is billed only inside a stay, judged on every
/// fact known. A removal or deletion that arrives after the traffic it ends un-bills it (a rejected
/// record, <c>after-stay-end</c>), so the same records bill the same in either order, and an invoiced
/// period is corrected on the next invoice.
/// </summary>
public class StayEndTests
{
    const string A = "111122223333", B = "444455556666";
    const string E1 = "vpce-0a1b2c3d4e5f60718", E2 = "vpce-11111111111111111", E3 = "vpce-22222222222222222";
    const long GiB = 1L << 30;
    static readonly BillingPeriod October = new(2026, 10), November = new(2026, 11);

    static readonly string[] Accounts =
    [
        Records.Opened("o-a", "2026-09-01T00:00:00Z", A, "Example Corp", "JP"),
        Records.Opened("o-b", "2026-09-01T00:00:00Z", B, "Müller GmbH", "DE"),
        Records.Created("c-1", "2026-10-02T00:00:00Z", E1, A, "us-east-1", "Interface", "use1-az1", "use1-az2"),
        Records.Created("c-2", "2026-10-01T00:00:00Z", E2, A, "us-east-1", "Interface", "use1-az1", "use1-az2"),
        Records.Created("c-3", "2026-10-01T00:00:00Z", E3, A, "us-east-1", "Interface", "use1-az1"),
    ];

    // E1 deleted at noon on the 4th; E2 leaves az1 on the 10th and comes back on the 20th; E3's payer is B from 00:30 on the 8th.
    static readonly string[] Endings =
    [
        Records.Deleted("d-1", "2026-10-04T12:00:00Z", E1),
        Records.AzRemoved("r-2", "2026-10-10T00:00:00Z", E2, "use1-az1"),
        Records.PayerChanged("p-3", "2026-10-08T00:30:00Z", E3, B),
    ];
    static readonly string ReAdd = Records.AzAdded("a-2", "2026-10-20T00:00:00Z", E2, "use1-az1");

    static readonly string[] Traffic =
    [
        Records.Traffic("t-1", "2026-10-03T00:00:00Z", E1, "use1-az1", null, 2 * GiB),
        Records.Traffic("t-2", "2026-10-05T00:00:00Z", E1, "use1-az1", "use1-az2", 10 * GiB), // after the deletion
        Records.Traffic("t-3", "2026-10-04T12:00:00Z", E1, "use1-az2", null, 1 * GiB), // at the deletion's instant
        Records.Traffic("u-1", "2026-10-10T00:00:00Z", E2, "use1-az1", null, 3 * GiB), // at the removal's instant
        Records.Traffic("u-2", "2026-10-15T00:00:00Z", E2, "use1-az1", "use1-az2", 4 * GiB), // in the gap
        Records.Traffic("u-3", "2026-10-25T00:00:00Z", E2, "use1-az1", null, 5 * GiB), // after the re-add
        Records.Traffic("u-4", "2026-10-15T00:00:00Z", E2, "use1-az2", null, 6 * GiB), // the other AZ
        Records.Traffic("u-5", "2026-10-05T00:00:00Z", E2, "use1-az1", null, 7 * GiB), // before the removal
        Records.Traffic("v-1", "2026-10-08T00:10:00Z", E3, "use1-az1", "use1-az2", 1 * GiB), // A's: before the payer change
        Records.Traffic("v-2", "2026-10-08T00:45:00Z", E3, "use1-az1", "use1-az2", 2 * GiB), // B's
        Records.Traffic("v-3", "2026-10-09T00:00:00Z", E3, "use1-az1", null, 4 * GiB), // B's
    ];

    static Task<BillingTestHost> StartAsync(string? connection = null) =>
        // No retry window: traffic that would wait for an AZ in the lifecycle-first order is refused at once.
        BillingTestHost.StartAsync(connection, s => s with { RetryWindow = Duration.Zero }, now: Instant.FromUtc(2026, 11, 2, 0, 0));

    static async Task<JsonArray> DeadLettersAsync(BillingTestHost host, string? code = null) =>
        JsonNode.Parse(await host.Http.GetStringAsync(code is null ? "/api/dead-letters" : $"/api/dead-letters?code={code}"))!.AsArray();

    /// <summary>Each account's invoices of the period as JSON, without what differs between two stores: the number and the store position.</summary>
    static async Task<Dictionary<string, string>> InvoicesAsync(BillingTestHost host, BillingPeriod period) =>
        JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices?period={period}"))!.AsArray().Select(i => (JsonObject)i!.DeepClone())
            .ToDictionary(i => (string)i["accountId"]!, i =>
            {
                i.Remove("number");
                i["provenance"]!.AsObject().Remove("eventSequence");
                return i.ToJsonString();
            });

    [Fact]
    public async Task The_same_records_in_either_order_give_the_same_usage_and_invoices()
    {
        await using var lifecycleFirst = await StartAsync();
        Dictionary<string, string> usage;
        string connection;
        await using (var trafficFirst = await StartAsync())
        {
            connection = trafficFirst.Settings.ConnectionString;
            // Traffic first, then the records that end its stays, then the re-add: four imports through the bus.
            await trafficFirst.ImportAsync(Accounts);
            Assert.Equal(Traffic.Length, (await trafficFirst.ImportAsync(Traffic)).Accepted);
            // The endings as one HTTP post: a batch of two partitions (E1 and E3 share one), decided in place under both locks.
            var partitions = trafficFirst.Services.GetRequiredService<UsagePartitions>();
            Assert.Equal(2, new[] { E1, E2, E3 }.Select(partitions.Of).Distinct().Count());
            using (var posted = await trafficFirst.Http.PostAsync("/api/usage/events", new StringContent($"[{string.Join(",", Endings)}]", System.Text.Encoding.UTF8, "application/json")))
            {
                var answer = JsonNode.Parse(await posted.Content.ReadAsStringAsync())!;
                Assert.Equal(3, (int)answer["accepted"]!);
            }
            Assert.Equal(1L, (await trafficFirst.ImportAsync([ReAdd])).Accepted);

            // Every lifecycle record first, then the traffic.
            await lifecycleFirst.ImportAsync([.. Accounts, .. Endings, ReAdd]);
            var late = await lifecycleFirst.ImportAsync(Traffic);
            Assert.Equal((7L, 4L), (late.Accepted, late.Rejected));

            usage = await trafficFirst.AllUsageJsonAsync("2026-10");
            Assert.Equal(await lifecycleFirst.AllUsageJsonAsync("2026-10"), usage);
            // Billed: t-1; u-3, u-4, u-5; v-1 for A and v-2, v-3 for B. Cross-AZ (the owner's): v-1 and v-2.
            Assert.Equal([("Interface", 2 * GiB + 18 * GiB + GiB)], (await trafficFirst.UsageAsync(A, "2026-10")).DataProcessed.Select(d => (d.Pool, (long)d.Bytes)));
            Assert.Equal([6 * GiB], (await trafficFirst.UsageAsync(B, "2026-10")).DataProcessed.Select(d => (long)d.Bytes));
            Assert.Equal([3 * GiB], (await trafficFirst.UsageAsync(A, "2026-10")).CrossAz.Select(d => (long)d.Bytes));

            // The un-billed records are rejected records after-stay-end naming what ended their stay; u-3,
            // un-billed by the removal, was billed again by the re-add and its letter marked replayed.
            var letters = await DeadLettersAsync(trafficFirst, "after-stay-end");
            Assert.Equal(["t-2", "t-3", "u-1", "u-2", "u-3"], letters.Select(l => (string)l!["recordId"]!).Order(StringComparer.Ordinal));
            Assert.Equal(["u-3"], letters.Where(l => l!["replayedAt"] is not null).Select(l => (string)l!["recordId"]!));
            Assert.Contains("endpoint.deleted 'd-1' at 2026-10-04T12:00:00Z", (string)letters.Single(l => (string)l!["recordId"]! == "t-2")!["reason"]!);
            Assert.Contains("endpoint.az-removed 'r-2' at 2026-10-10T00:00:00Z", (string)letters.Single(l => (string)l!["recordId"]! == "u-2")!["reason"]!);
            // The other order refused the same records when they arrived.
            var refused = await DeadLettersAsync(lifecycleFirst);
            Assert.Equal(["t-2 after-deletion", "t-3 after-deletion", "u-1 az-not-provisioned", "u-2 az-not-provisioned"],
                refused.Select(l => $"{l!["recordId"]} {l["code"]}").Order(StringComparer.Ordinal));

            await CloseCommand.CloseAsync(trafficFirst.Services, October, CancellationToken.None);
            await CloseCommand.CloseAsync(lifecycleFirst.Services, October, CancellationToken.None);
            var invoices = await InvoicesAsync(trafficFirst, October);
            Assert.Equal([A, B], invoices.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(await InvoicesAsync(lifecycleFirst, October), invoices);

            // invoice verify recomputes from the events (un-billings included) what the projections priced.
            foreach (var invoice in await trafficFirst.InvoicesAsync())
            {
                var verified = JsonNode.Parse(await trafficFirst.Http.GetStringAsync($"/api/invoices/{invoice.Number}/verify"))!;
                Assert.True((bool)verified["matches"]!, verified.ToJsonString());
                Assert.Equal("[]", verified["now"]!["differences"]!.ToJsonString());
            }
        }

        // A replay of every projection from the events gives the same usage.
        await using var replaying = await BillingTestHost.StartAsync(connection, s => s with { RunDaemon = false });
        await using (var wipe = replaying.Store.LightweightSession())
        {
            wipe.QueueSqlCommand($"delete from {TrafficHoursTable.Name}");
            wipe.DeleteWhere<EndpointTimeline>(_ => true);
            await wipe.SaveChangesAsync();
        }
        await ReplayProjections.ReplayAsync(replaying.Store, connection, CancellationToken.None);
        Assert.Equal(usage, await replaying.AllUsageJsonAsync("2026-10"));
    }

    [Fact]
    public async Task A_deletion_arriving_after_its_period_was_invoiced_is_an_adjustment_on_the_next_invoice()
    {
        await using var host = await StartAsync();
        await host.ImportAsync([
            Records.Opened("o-a", "2026-09-01T00:00:00Z", A, "Example Corp", "US"),
            Records.Created("c-1", "2026-10-02T00:00:00Z", E1, A, "us-east-1", "Interface", "use1-az1"),
            Records.Traffic("t-1", "2026-10-03T00:00:00Z", E1, "use1-az1", null, GiB),
            Records.Traffic("t-2", "2026-10-05T00:00:00Z", E1, "use1-az1", "use1-az2", 10 * GiB),
        ]);
        var october = (await CloseCommand.CloseAsync(host.Services, October, CancellationToken.None)).Single();
        var issued = await host.Http.GetStringAsync($"/api/invoices/{october.Number}");
        Assert.Equal(["endpoint-hours 720 7.20", "data-processing 11.000000000 0.11", "cross-az-out 10.000000000 0.10", "cross-az-in 10.000000000 0.10"],
            JsonNode.Parse(issued)!["lines"]!.AsArray().Select(l => $"{l!["kind"]} {l["quantity"]} {l["amount"]}"));

        // On 5 November the producer sends the deletion of 4 October: t-2 was never inside a stay.
        host.Clock.Set(Instant.FromUtc(2026, 11, 5, 0, 0));
        Assert.Equal(1L, (await host.ImportAsync([Records.Deleted("d-1", "2026-10-04T00:00:00Z", E1)])).Accepted);
        var letter = Assert.Single(await DeadLettersAsync(host, "after-stay-end"))!;
        Assert.Equal("t-2", (string)letter["recordId"]!);
        Assert.Equal(Records.Traffic("t-2", "2026-10-05T00:00:00Z", E1, "use1-az1", "use1-az2", 10 * GiB), (string)letter["json"]!);
        Assert.Equal(("2026-11-05T00:00:00Z", "2026-11-05T00:00:00Z"), ((string)letter["arrivedAt"]!, (string)letter["deadLetteredAt"]!)); // when it was un-billed
        var pending = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{october.Number}/verify"))!;
        Assert.True((bool)pending["matches"]!); // the invoice is what the events up to its position gave
        Assert.Equal("not yet invoiced: the next close of 2026-11 carries them", (string)pending["now"]!["pending"]!);

        host.Clock.Set(Instant.FromUtc(2026, 12, 2, 0, 0));
        var november = (await CloseCommand.CloseAsync(host.Services, November, CancellationToken.None)).Single();
        var lines = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{november.Number}"))!;
        Assert.Equal([
            "adjustment 2026-10 endpoint-hours -672 -6.72", // 720 h -> 48 h
            "adjustment 2026-10 data-processing -10.000000000 -0.10",
            "adjustment 2026-10 cross-az-out -10.000000000 -0.10",
            "adjustment 2026-10 cross-az-in -10.000000000 -0.10",
        ], lines["lines"]!.AsArray().Select(l => $"{l!["kind"]} {l["adjusts"]} {l["of"]} {l["quantity"]} {l["amount"]}"));
        Assert.Equal("-7.02", (string)lines["total"]!);
        Assert.Equal(issued, await host.Http.GetStringAsync($"/api/invoices/{october.Number}")); // the October invoice is as issued
        var carried = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{october.Number}/verify"))!;
        Assert.Equal($"[\"{november.Number}\"]", carried["now"]!["carriedBy"]!.ToJsonString());
        Assert.True((bool)JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{november.Number}/verify"))!["matches"]!);

        // The record is no longer accepted: replayed, it is decided afresh and refused for the deletion.
        var replay = await DeadLetters.ReplayAsync(host.Services, Guid.Parse((string)letter["id"]!), Billing.Host.Access.Actor.Cli("test"), CancellationToken.None);
        Assert.Equal((1L, 0L, 0L, 1L), (replay.Records, replay.Accepted, replay.Duplicates, replay.Rejected));
        Assert.Equal("t-2", (string)Assert.Single(await DeadLettersAsync(host, "after-deletion"))!["recordId"]!);
        Assert.Equal(GiB, Assert.Single((await host.UsageAsync(A, "2026-10")).DataProcessed).Bytes);
    }
}
