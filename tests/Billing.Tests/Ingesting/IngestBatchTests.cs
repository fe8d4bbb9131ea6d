using Billing.Events;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Wolverine.Tracking;
using Xunit;

namespace Billing.Tests.Ingesting;

/// <summary>The ingest slice through the bus: one batch sent, decided by its partition's handler, and what it wrote.</summary>
public sealed class IngestBatchTests
{
    const string Account = "111122223333";
    const string Endpoint = "vpce-0a1b2c3d4e5f60718";
    const long GiB = 1L << 30;

    [Fact]
    public async Task A_batch_on_the_bus_is_decided_and_written_in_one_go()
    {
        await using var host = await BillingTestHost.StartAsync();
        var partitions = host.Services.GetRequiredService<UsagePartitions>();
        var now = host.Clock.GetCurrentInstant();
        string[] lines =
        [
            Records.Opened("r-1", "2026-09-01T00:00:00Z", Account),
            Records.Created("r-2", "2026-10-01T10:00:00Z", Endpoint, Account, "us-east-1", "Interface", "use1-az1"),
            Records.Traffic("r-3", "2026-10-02T08:10:00Z", Endpoint, "use1-az1", "use1-az2", 3 * GiB),
            Records.Traffic("r-4", "2026-10-02T08:50:00Z", Endpoint, "use1-az1", "use1-az2", 2 * GiB),
            Records.Traffic("r-5", "2026-10-02T09:00:00Z", Endpoint, "use1-az2", null, GiB), // not provisioned there: waits
            """{"type":"traffic.processed","id":"r-6"}""",
        ];
        // As the broker's consumer and the import send them: one batch per partition.
        var batches = IngestBatch.For(partitions, null, lines.Select(l => new IncomingRecord(l, now)).ToList()).ToList();
        Assert.Equal(lines.Length, batches.Sum(b => b.Records.Count));

        var tracked = await host.App.TrackActivity().Timeout(TimeSpan.FromSeconds(60)).IncludeExternalTransports()
            .ExecuteAndWaitAsync(async Task (Wolverine.IMessageContext bus) => { foreach (var b in batches) await bus.SendAsync(b); });

        var handled = tracked.Executed.MessagesOf<IngestBatch>().ToList();
        Assert.Equal(batches.Select(b => b.Partition).Order(), handled.Select(b => b.Partition).Order());
        Assert.Equal(lines.Order(StringComparer.Ordinal), handled.SelectMany(b => b.Records).Select(r => r.Json).Order(StringComparer.Ordinal));
        var retry = Assert.Single(tracked.Scheduled.MessagesOf<IngestBatch>());
        Assert.Equal(partitions.Of(Endpoint), retry.Partition);
        Assert.Equal(["r-5"], retry.Records.Select(r => RecordParser.Parse(r.Json, new ParseContext(now, new HashSet<string> { "us-east-1" })).RecordId));

        await using var session = host.Store.QuerySession();
        var letter = Assert.Single(await session.Query<DeadLetter>().ToListAsync());
        Assert.Equal(("r-6", "missing-field"), (letter.RecordId, letter.Code));
        Assert.Equal(Endpoint, (await session.LoadAsync<EndpointTimeline>(Endpoint))!.Id);
        var hours = await TrafficHoursTable.InPeriodAsync(session, [Endpoint], new BillingPeriod(2026, 10), CancellationToken.None);
        Assert.Equal([new TrafficBucket(24 + 8, "use1-az1", "use1-az2", 5m * GiB, Records: 2)], hours[Endpoint]); // r-3 and r-4
        var usage = await host.UsageAsync(Account, "2026-10");
        Assert.Equal(5m * GiB, usage.DataProcessed.Sum(d => d.Bytes));
    }
}
