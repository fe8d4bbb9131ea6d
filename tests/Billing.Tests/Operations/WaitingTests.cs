using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Billing.Host.Features;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using RabbitMQ.Client;
using Wolverine;
using Wolverine.Runtime;
using Wolverine.Transports;

namespace Billing.Tests.Operations;

/// <summary>
/// Everything that waits, held back for real and read while it waits, on each transport: records
/// answered pending for endpoints that do not exist yet (their retries delayed 10 minutes, so they sit
/// as scheduled messages), and a batch sent to a partition whose listener is paused (so it sits in the
/// partition's queue). /health/ready's figures and the scrape's gauges give the counts.
/// </summary>
[Collection(MetricsCollection.Name)]
public class WaitingTests
{
    static readonly UsagePartitions Partitions = new(UsagePartitions.Default);

    /// <summary>The first endpoint id vpce-0…0, vpce-0…1, … in each partition: the partition a record goes to is then known.</summary>
    static readonly string[] EndpointIn = Enumerable.Range(0, Partitions.Count)
        .Select(p => Enumerable.Range(0, 10_000).Select(n => $"vpce-{n:x17}").First(e => Partitions.Of(e) == p)).ToArray();

    /// <summary>Partition p's batches go to the sharded queue usage_partition{p+1} (UsagePartitions.GroupId hashes onto shard p).</summary>
    static string Queue(int partition) => $"{Billing.Host.BillingHost.IngestQueue}{partition + 1}";

    static async Task<(HttpStatusCode Status, JsonNode Body)> ReadyAsync(BillingTestHost host)
    {
        using var anonymous = new HttpClient { BaseAddress = host.Http.BaseAddress };
        var response = await anonymous.GetAsync("/health/ready");
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    /// <summary>Stops the listener of a queue (matched by its URI's end) for two minutes: what is sent to it waits there.</summary>
    static async Task<IListeningAgent> PauseAsync(BillingTestHost host, string queue)
    {
        var runtime = host.Services.GetRequiredService<IWolverineRuntime>();
        // The partitions' queues are PostgreSQL tables on either bus; with a broker, the producers' queue is RabbitMQ's.
        var scheme = host.Settings.RabbitMqUri is not null && queue == Billing.Host.BillingHost.UsageQueue ? "rabbitmq" : "postgresql";
        var agent = await Eventually.UntilAsync(() => Task.FromResult(runtime.Endpoints.ActiveListeners().FirstOrDefault(l => l.Uri.Scheme == scheme && l.Uri.ToString().TrimEnd('/').EndsWith("/" + queue))),
            a => a is not null, TimeSpan.FromSeconds(30), $"a listener for {queue} on the host");
        await agent!.PauseAsync(TimeSpan.FromMinutes(2));
        return agent;
    }

    /// <summary>Three traffic records for endpoints nobody created, two in partition 0 and one in partition 1: pending, retried in 10 minutes.</summary>
    static async Task PostPendingAsync(BillingTestHost host)
    {
        var body = "[" + string.Join(",",
            Records.Traffic("w-1", "2026-10-20T00:00:00Z", EndpointIn[0], "use1-az1", null, 1000),
            Records.Traffic("w-2", "2026-10-20T01:00:00Z", EndpointIn[0], "use1-az1", null, 1000),
            Records.Traffic("w-3", "2026-10-20T02:00:00Z", EndpointIn[1], "use1-az1", null, 1000)) + "]";
        var answer = await (await host.Http.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"))).Content.ReadAsStringAsync();
        Assert.Equal(3, (int)JsonNode.Parse(answer)!["pending"]!);
    }

    /// <summary>A batch sent through the bus to partition 2, whose listener is paused.</summary>
    static async Task SendToPartitionAsync(BillingTestHost host, int partition)
    {
        using var scope = host.Services.CreateScope();
        var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
        await bus.SendAsync(new IngestBatch(null, [new IncomingRecord(Records.Opened("w-4", "2026-09-01T00:00:00Z", "777700001111"), host.Clock.GetCurrentInstant())], partition));
    }

    [Fact]
    public async Task On_postgresql_waiting_records_scheduled_retries_and_a_paused_partitions_queue_are_counted_while_they_wait()
    {
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { RetryDelay = TimeSpan.FromMinutes(10) });
        var paused = await PauseAsync(host, Queue(2));
        await PostPendingAsync(host);
        await SendToPartitionAsync(host, 2);
        host.Clock.Advance(Duration.FromMinutes(2));

        var (status, ready) = await Eventually.UntilAsync(() => ReadyAsync(host), r => (long)r.Body["checks"]!["queues"]!["total"]! == 1,
            TimeSpan.FromSeconds(30), "the batch in its partition's table", describe: r => r.Body.ToJsonString());
        Assert.True(status == HttpStatusCode.OK, ready.ToJsonString()); // two minutes is within BILLING_READY_MAX_WAITING_SECONDS
        var waiting = ready["checks"]!["waiting"]!;
        Assert.Equal((3L, 2L, 120d, false), ((long)waiting["records"]!, (long)waiting["messages"]!, (double)waiting["oldestSeconds"]!, (bool)waiting["truncated"]!));
        var expected = new SortedDictionary<string, long>(StringComparer.Ordinal) { ["usage"] = 0 };
        for (var p = 0; p < Partitions.Count; p++) (expected[Queue(p)], expected[$"{Queue(p)}_scheduled"]) = (p == 2 ? 1 : 0, 0);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(expected), ready["checks"]!["queues"]!["depths"]!.ToJsonString());
        // A partition's delayed batch is not in its queue's _scheduled table but a scheduled row of the inbox, addressed to the partition's queue.
        Assert.Equal(2L, await host.ScalarAsync(
            $"select count(*) from billing.wolverine_incoming_envelopes where status = 'Scheduled' and message_type = 'Billing.Host.Features.IngestBatch' and received_at in ('postgresql://{Queue(0)}/', 'postgresql://{Queue(1)}/')"));
        Assert.Equal("postgresql", (string)ready["checks"]!["queues"]!["transport"]!);

        var scrape = await (await host.Http.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Equal(3, Prometheus.Sample(scrape, "billing_waiting_records"));
        Assert.Equal(120, Prometheus.Sample(scrape, "billing_waiting_oldest_seconds"));
        Assert.Equal(0, Prometheus.Sample(scrape, "billing_queue_depth", ("queue", $"{Queue(0)}_scheduled")));
        Assert.Equal(1, Prometheus.Sample(scrape, "billing_queue_depth", ("queue", Queue(2))));
        Assert.Equal(0, Prometheus.Sample(scrape, "billing_queue_depth", ("queue", Queue(3))));

        // The partition listens again: its batch is decided and its queue is empty; the retries still wait.
        await paused.StartAsync();
        await Eventually.UntilAsync(async () => await host.ScalarAsync("select count(*) from billing.mt_streams where id = '777700001111'") == 1,
            TimeSpan.FromSeconds(30), "the held batch decided once its partition listened again");
        var after = await ReadyAsync(host);
        Assert.Equal((0L, 0L, 3L), ((long)after.Body["checks"]!["queues"]!["depths"]![Queue(2)]!, (long)after.Body["checks"]!["queues"]!["total"]!, (long)after.Body["checks"]!["waiting"]!["records"]!));
    }

    [Fact]
    public async Task On_rabbitmq_waiting_records_and_paused_queues_on_the_broker_and_in_the_database_are_counted_while_they_wait()
    {
        var amqp = await RabbitMqBroker.CreateVirtualHostAsync("waiting");
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { RabbitMqUri = amqp, RetryDelay = TimeSpan.FromMinutes(10) });
        var partition = await PauseAsync(host, Queue(2));
        var producers = await PauseAsync(host, Billing.Host.BillingHost.UsageQueue);
        await PostPendingAsync(host);
        await SendToPartitionAsync(host, 2);
        {
            var factory = new ConnectionFactory { Uri = new Uri(amqp) };
            await using var connection = await factory.CreateConnectionAsync("test-producer");
            await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            await channel.BasicPublishAsync("", "usage", mandatory: true, new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent },
                Encoding.UTF8.GetBytes(Records.Opened("w-5", "2026-09-01T00:00:00Z", "777700002222")));
        }
        host.Clock.Advance(Duration.FromMinutes(2));

        var (status, ready) = await Eventually.UntilAsync(() => ReadyAsync(host), r => (long)r.Body["checks"]!["queues"]!["total"]! == 2 && (long)r.Body["checks"]!["waiting"]!["records"]! == 3,
            TimeSpan.FromSeconds(30), "the batch and the producer's message on their queues, the retries in the inbox", describe: r => r.Body.ToJsonString());
        Assert.True(status == HttpStatusCode.OK, ready.ToJsonString());
        // The retries are scheduled rows of the inbox addressed to the partitions' PostgreSQL queues, as without a broker.
        var waiting = ready["checks"]!["waiting"]!;
        Assert.Equal((3L, 2L, 120d), ((long)waiting["records"]!, (long)waiting["messages"]!, (double)waiting["oldestSeconds"]!));
        Assert.Equal(2L, await host.ScalarAsync(
            $"select count(*) from billing.wolverine_incoming_envelopes where status = 'Scheduled' and message_type = 'Billing.Host.Features.IngestBatch' and received_at in ('postgresql://{Queue(0)}/', 'postgresql://{Queue(1)}/')"));
        var depths = ready["checks"]!["queues"]!["depths"]!;
        Assert.Equal("rabbitmq", (string)ready["checks"]!["queues"]!["transport"]!);
        // `usage` is the broker's queue (a passive declare), the partition's a table, beside the broker's dead-letter queue.
        Assert.Equal((1L, 1L, 0L, 0L, 0L, 0L), ((long)depths["usage"]!, (long)depths[Queue(2)]!, (long)depths[Queue(0)]!, (long)depths[Queue(1)]!, (long)depths[Queue(3)]!, (long)depths["wolverine-dead-letter-queue"]!));

        var scrape = await (await host.Http.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Equal(3, Prometheus.Sample(scrape, "billing_waiting_records"));
        Assert.Equal(1, Prometheus.Sample(scrape, "billing_queue_depth", ("queue", "usage")));
        Assert.Equal(1, Prometheus.Sample(scrape, "billing_queue_depth", ("queue", Queue(2))));
        Assert.Equal(0, Prometheus.Sample(scrape, "billing_queue_depth", ("queue", Queue(0))));

        await partition.StartAsync();
        await producers.StartAsync();
        await Eventually.UntilAsync(async () => await host.ScalarAsync("select count(*) from billing.mt_streams where id in ('777700001111', '777700002222')") == 2,
            TimeSpan.FromSeconds(30), "the held batch and message decided once their queues were listened to again");
        var after = await Eventually.UntilAsync(() => ReadyAsync(host), r => (long)r.Body["checks"]!["queues"]!["total"]! == 0, TimeSpan.FromSeconds(30), "the queues empty",
            describe: r => r.Body.ToJsonString());
        Assert.Equal(3L, (long)after.Body["checks"]!["waiting"]!["records"]!);
    }
}
