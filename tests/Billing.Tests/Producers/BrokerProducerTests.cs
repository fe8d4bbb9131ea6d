using System.Text;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using Marten;
using NodaTime;
using RabbitMQ.Client;

namespace Billing.Tests.Producers;

/// <summary>
/// A producer with no .NET service code and no Wolverine: raw JSON bodies published with the plain
/// RabbitMQ client onto the durable queue `usage` of a real broker, billed by a real host.
/// </summary>
public class BrokerProducerTests
{
    const string A = "111122223333";
    const string E = "vpce-0a1b2c3d4e5f60718";
    const long GiB = 1L << 30;

    static async Task<BillingTestHost> StartOnBrokerAsync()
    {
        var amqp = await RabbitMqBroker.CreateVirtualHostAsync("producer");
        return await BillingTestHost.StartAsync(configure: s => s with { RabbitMqUri = amqp }, now: Instant.FromUtc(2026, 11, 1, 0, 0));
    }

    static async Task PublishAsync(string amqpUri, params (byte[] Body, string? ContentType)[] messages)
    {
        var factory = new ConnectionFactory { Uri = new Uri(amqpUri) };
        await using var connection = await factory.CreateConnectionAsync("test-producer");
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.QueueDeclarePassiveAsync("usage"); // the service declared it; a producer only checks it is there
        foreach (var (body, contentType) in messages)
            await channel.BasicPublishAsync("", "usage", mandatory: true,
                new BasicProperties { ContentType = contentType, DeliveryMode = DeliveryModes.Persistent }, body);
    }

    static async Task<(uint Ready, uint Consumers)> QueueAsync(string amqpUri, string queue)
    {
        var factory = new ConnectionFactory { Uri = new Uri(amqpUri) };
        await using var connection = await factory.CreateConnectionAsync("test-inspector");
        await using var channel = await connection.CreateChannelAsync();
        var ok = await channel.QueueDeclarePassiveAsync(queue);
        return (ok.MessageCount, ok.ConsumerCount);
    }

    // The producers publish with the plain client, outside any Wolverine tracked session: the host's
    // deliveries are waited for by what they store.
    static Task<List<DeadLetter>> WaitForDeadLettersAsync(BillingTestHost host, int count) =>
        Eventually.UntilAsync(async () =>
            {
                await using var session = host.Store.QuerySession();
                return (await session.Query<DeadLetter>().ToListAsync()).OrderBy(d => d.Json, StringComparer.Ordinal).ToList();
            },
            letters => letters.Count >= count, TimeSpan.FromSeconds(60), $"{count} dead letters",
            describe: letters => $"{letters.Count} so far: {string.Join(", ", letters.Select(l => l.Code))}");

    static Task<decimal> WaitForBytesAsync(BillingTestHost host, decimal bytes) =>
        Eventually.UntilAsync(async () => (await host.UsageAsync(A, "2026-10")).DataProcessed.Sum(d => d.Bytes),
            seen => seen >= bytes, TimeSpan.FromSeconds(60), $"{bytes} bytes billed to {A}", describe: seen => $"{seen} so far");

    [Fact]
    public async Task Raw_json_bodies_from_the_plain_client_are_billed_and_bad_bodies_become_rejected_records()
    {
        await using var host = await StartOnBrokerAsync();
        var amqp = host.Settings.RabbitMqUri!;
        static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
        await PublishAsync(amqp,
            (Utf8($"[{Records.Opened("p-1", "2026-09-01T00:00:00Z", A)},{Records.Created("p-2", "2026-10-01T10:00:00Z", E, A, "us-east-1", "Interface", "use1-az1")},{Records.Traffic("p-3", "2026-10-05T00:00:00Z", E, "use1-az1", null, 5 * GiB)}]"), "application/json"),
            (Utf8(Records.Traffic("p-4", "2026-10-06T00:00:00Z", E, "use1-az1", null, GiB)), "application/json"),    // one record, not an array
            (Utf8("this is <not> json"), "text/plain"),                                                             // not JSON
            (Utf8($"[42,{Records.Traffic("p-5", "2026-10-07T00:00:00Z", E, "use1-az1", null, GiB)}]"), "application/json"), // one element not a record
            (Utf8("\"just a string\""), null),                                                                      // JSON, not a record; no content type
            ([0x5B, 0x22, 0xC3, 0x28, 0x22, 0x5D], "application/json"));                                            // not UTF-8

        Assert.Equal(7m * GiB, await WaitForBytesAsync(host, 7m * GiB));
        var letters = await WaitForDeadLettersAsync(host, 4);
        Assert.Equal([
            ("malformed-json", "\"just a string\"", "the record must be a JSON object"),
            ("malformed-json", "42", "the record must be a JSON object"),
            ("malformed-json", "[\"\uFFFD(\"]", "the message body (6 bytes) is not valid UTF-8, so not JSON"),
            ("malformed-json", "this is <not> json", "the record is not valid JSON: 'this is <not> json' is an invalid JSON literal"),
        ], letters.Select(l => (l.Code, l.Json, l.Reason.Length > 77 ? l.Reason[..77] : l.Reason)));

        // Every message was decided and acknowledged: none waits on the queue, none went to the broker's dead-letter queue.
        Assert.Equal((0u, 1u), await QueueAsync(amqp, "usage"));
        Assert.Equal(0u, (await QueueAsync(amqp, "wolverine-dead-letter-queue")).Ready);
    }

    [Fact]
    public async Task Billing_import_publishes_through_the_broker_when_one_is_configured()
    {
        await using var host = await StartOnBrokerAsync();
        var result = await host.ImportAsync([.. OctoberScenario.Lines, "{not json", OctoberScenario.Lines[0]]);
        Assert.Equal((19L, 17L, 1L, 1L), (result.Records, result.Accepted, result.Duplicates, result.Rejected));
        Assert.Equal(OctoberScenario.ExpectedA, await host.UsageJsonAsync(OctoberScenario.A, "2026-10"));
        Assert.Equal(OctoberScenario.ExpectedB, await host.UsageJsonAsync(OctoberScenario.B, "2026-10"));
        Assert.Equal((0u, 1u), await QueueAsync(host.Settings.RabbitMqUri!, "usage"));
    }
}
