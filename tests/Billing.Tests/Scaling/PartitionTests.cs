using Billing.Host;
using Billing.Host.Features;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;
using Xunit;

namespace Billing.Tests.Scaling;

/// <summary>
/// Ingest decisions partitioned by endpoint (<see cref="UsagePartitions"/>): how a record is routed,
/// and an id reused with different content in two partitions decided at the same time, which no
/// lock orders (the partitions' locks differ): one record is accepted, the other is a duplicate-conflict.
/// </summary>
public sealed class PartitionTests
{
    const string Account = "444455556666";
    const long GiB = 1L << 30;

    [Fact]
    public void A_record_is_routed_by_its_endpoint_then_its_account_then_its_id()
    {
        Assert.Equal("vpce-0a1b2c3d4e5f60718", UsagePartitions.RoutingKey(Records.Created("r-1", "2026-10-01T00:00:00Z", "vpce-0a1b2c3d4e5f60718", Account, "us-east-1", "Interface", "use1-az1")));
        Assert.Equal("vpce-0a1b2c3d4e5f60718", UsagePartitions.RoutingKey(Records.PayerChanged("r-2", "2026-10-01T00:00:00Z", "vpce-0a1b2c3d4e5f60718", "999988887777")));
        Assert.Equal(Account, UsagePartitions.RoutingKey(Records.Opened("r-3", "2026-10-01T00:00:00Z", Account)));
        Assert.Equal("r-4", UsagePartitions.RoutingKey("""{"id":"r-4","type":"no.such-type","endpointId":7}"""));
        Assert.Equal("", UsagePartitions.RoutingKey("this is <not> json"));
        Assert.Equal("", UsagePartitions.RoutingKey("""["an","array"]"""));
        Assert.Equal("x", UsagePartitions.RoutingKey("""{"id":"x","at":"""));  // cut short: what was read before the break
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(7)]
    public void Each_partition_has_a_group_id_of_its_own_shard_and_a_split_keeps_arrival_order(int count)
    {
        var partitions = new UsagePartitions(count);
        var groupIds = Enumerable.Range(0, count).Select(partitions.GroupId).ToList();
        Assert.Equal(count, groupIds.Distinct().Count());
        // Wolverine's shard of a group id is |hash| mod P with this hash: partition p's batches land on shard p.
        Assert.Equal(Enumerable.Range(0, count), groupIds.Select(g => Math.Abs(JasperFx.Core.StringExtensions.GetDeterministicHashCode(g) % count)));

        var records = Enumerable.Range(0, 200)
            .Select(i => new IncomingRecord(Records.Traffic($"t-{i}", "2026-10-01T00:00:00Z", $"vpce-{i:x17}", "use1-az1", null, i), default))
            .ToList();
        var split = partitions.Split(records).ToList();
        Assert.Equal(200, split.Sum(s => s.Records.Count));
        foreach (var (partition, group) in split)
        {
            Assert.All(group, r => Assert.Equal(partition, partitions.Of(UsagePartitions.RoutingKey(r.Json))));
            Assert.Equal(group.OrderBy(records.IndexOf).ToList(), group);
        }
        Assert.Equal(count, split.Count(s => s.Records.Count > 0)); // 200 endpoints reach every partition
        Assert.Empty(partitions.Split([])); // nothing waiting: no batch to send
    }

    /// <summary>Two endpoints of the account in different partitions of <paramref name="partitions"/>.</summary>
    static (string A, string B) EndpointsInTwoPartitions(UsagePartitions partitions)
    {
        var a = "vpce-0000000000000000a";
        var b = Enumerable.Range(1, 1000).Select(i => $"vpce-{i:x17}").First(e => partitions.Of(e) != partitions.Of(a));
        return (a, b);
    }

    static async Task<BillingTestHost> StartWithTwoEndpointsAsync()
    {
        var host = await BillingTestHost.StartAsync();
        var (a, b) = EndpointsInTwoPartitions(host.Services.GetRequiredService<UsagePartitions>());
        var setup = await host.ImportAsync(
        [
            Records.Opened("s-1", "2026-09-01T00:00:00Z", Account),
            Records.Created("s-2", "2026-10-01T00:00:00Z", a, Account, "us-east-1", "Interface", "use1-az1"),
            Records.Created("s-3", "2026-10-01T00:00:00Z", b, Account, "us-east-1", "Interface", "use1-az1"),
        ]);
        Assert.Equal(3, setup.Accepted);
        return host;
    }

    /// <summary>The ingest handler's steps run by hand on a session of the test's, so two batches can be decided before either commits.</summary>
    static async Task<IngestOutcome> DecideByHandAsync(BillingTestHost host, IDocumentSession session, IncomingRecord[] records)
    {
        var services = host.Services;
        var batch = new IngestBatch(null, records);
        var partitioned = IngestBatchHandler.Before(batch, new Wolverine.Envelope(batch), services.GetRequiredService<IngestionOptions>(), services.GetRequiredService<UsagePartitions>(), host.Clock);
        var state = await IngestBatchHandler.LoadAsync(partitioned, session, services.GetRequiredService<TimelineCaches>(), CancellationToken.None);
        var (outcome, writes, _) = IngestBatchHandler.Handle(batch, partitioned, state, services.GetRequiredService<IngestionOptions>(),
            services.GetRequiredService<UsagePartitions>(), services.GetRequiredService<TimelineCaches>(), services.GetRequiredService<BillingSettings>(),
            services.GetRequiredService<Billing.Host.Features.Budgets.BudgetWatch>());
        foreach (var write in writes) write.Execute(session);
        return outcome;
    }

    [Fact]
    public async Task Two_partitions_accepting_one_id_at_once_collide_and_the_retried_one_is_a_duplicate_conflict()
    {
        await using var host = await StartWithTwoEndpointsAsync();
        var (a, b) = EndpointsInTwoPartitions(host.Services.GetRequiredService<UsagePartitions>());
        var now = host.Clock.GetCurrentInstant();
        IncomingRecord[] onA = [new(Records.Traffic("same-id", "2026-10-02T00:00:00Z", a, "use1-az1", null, 3 * GiB), now)];
        IncomingRecord[] onB = [new(Records.Traffic("same-id", "2026-10-02T00:00:00Z", b, "use1-az1", null, 5 * GiB), now)];

        // Both decided before either commits: neither sees the other's id, so both accept it.
        await using var first = host.Store.LightweightSession();
        await using var second = host.Store.LightweightSession();
        var planA = await DecideByHandAsync(host, first, onA);
        var planB = await DecideByHandAsync(host, second, onB);
        Assert.Equal(RecordStatus.Accepted, Assert.Single(planA.Outcomes).Status);
        Assert.Equal(RecordStatus.Accepted, Assert.Single(planB.Outcomes).Status);

        await first.SaveChangesAsync();
        var collision = await Record.ExceptionAsync(() => second.SaveChangesAsync());
        Assert.NotNull(collision);
        Assert.True(RecordIdsTable.IsIdCollision(collision), collision.ToString());

        // Tried again (as the bus's retry policy does), against the id now stored.
        await using var retry = host.Store.LightweightSession();
        var again = await DecideByHandAsync(host, retry, onB);
        await retry.SaveChangesAsync();
        var outcome = Assert.Single(again.Outcomes);
        Assert.Equal((RecordStatus.Rejected, "duplicate-conflict"), (outcome.Status, outcome.Reason?.Code));

        var usage = await host.UsageAsync(Account, "2026-10");
        Assert.Equal(3m * GiB, usage.DataProcessed.Sum(d => d.Bytes));
        await using var query = host.Store.QuerySession();
        var letter = Assert.Single(await query.Query<DeadLetter>().ToListAsync());
        Assert.Equal(("same-id", "duplicate-conflict", onB[0].Json), (letter.RecordId, letter.Code, letter.Json));
    }

    [Fact]
    public async Task Through_the_bus_an_id_reused_in_two_partitions_is_accepted_once_and_refused_once()
    {
        await using var host = await StartWithTwoEndpointsAsync();
        var partitions = host.Services.GetRequiredService<UsagePartitions>();
        var (a, b) = EndpointsInTwoPartitions(partitions);
        var now = host.Clock.GetCurrentInstant();
        var importId = Guid.CreateVersion7();
        await RegisterImportAsync(host, importId, 2);
        using (var scope = host.Services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            // Published together, each onto its own partition's queue, decided side by side.
            await Task.WhenAll(
                bus.PublishAsync(new IngestBatch(importId, [new(Records.Traffic("twice", "2026-10-03T00:00:00Z", a, "use1-az1", null, 7 * GiB), now)], partitions.Of(a))).AsTask(),
                bus.PublishAsync(new IngestBatch(importId, [new(Records.Traffic("twice", "2026-10-03T00:00:00Z", b, "use1-az1", null, 11 * GiB), now)], partitions.Of(b))).AsTask());
        }
        var counts = await ImportUsage.WaitForDecisionsAsync(host.Settings.ConnectionString, importId, 2, new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
        Assert.Equal((1L, 0L, 1L), counts);

        var usage = await host.UsageAsync(Account, "2026-10");
        var bytes = usage.DataProcessed.Sum(d => d.Bytes);
        Assert.True(bytes is 7m * GiB or 11m * GiB, $"billed {bytes} bytes: exactly one of the two records must count");
        await using var query = host.Store.QuerySession();
        var letter = Assert.Single(await query.Query<DeadLetter>().ToListAsync());
        Assert.Equal(("twice", "duplicate-conflict"), (letter.RecordId, letter.Code));
        Assert.Contains(bytes == 7m * GiB ? b : a, letter.Json);
    }

    static Task RegisterImportAsync(BillingTestHost host, Guid importId, long expected) =>
        Billing.Tests.Redelivery.DuplicatePublishTests.ExecuteAsync(host.Settings.ConnectionString,
            "insert into billing.imports (id, expected) values (@id, @expected)", ("id", importId), ("expected", expected));
}
