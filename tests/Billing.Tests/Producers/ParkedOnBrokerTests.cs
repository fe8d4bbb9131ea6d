using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Tests.Support;
using NodaTime;
using RabbitMQ.Client;

namespace Billing.Tests.Producers;

/// <summary>
/// A producer's message parked on the broker for real: while the test holds an EXCLUSIVE lock on the
/// outbox table (the database gives up waiting after 1 s), the message's records cannot be handed to
/// their partitions; after Marten's three retries Wolverine dead-letters it to RabbitMQ's
/// wolverine-dead-letter-queue. /health/ready counts it, the parked list shows it, and once the lock
/// is gone a replay publishes it again to `usage`, where its record is accepted.
/// </summary>
public class ParkedOnBrokerTests
{
    const string Account = "777700003333";

    static async Task<(HttpStatusCode Status, JsonNode Body)> ReadyAsync(BillingTestHost host)
    {
        using var anonymous = new HttpClient { BaseAddress = host.Http.BaseAddress };
        var response = await anonymous.GetAsync("/health/ready");
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    [Fact]
    public async Task A_producer_message_the_store_refused_past_its_retries_is_parked_on_the_broker_counted_listed_and_sent_again()
    {
        var db = await PostgresLocks.DatabaseWithLockTimeoutAsync("billing_parked_broker");
        var amqp = await RabbitMqBroker.CreateVirtualHostAsync("parked");
        await using var host = await BillingTestHost.StartAsync(db, s => s with { RabbitMqUri = amqp }, now: Instant.FromUtc(2026, 11, 1, 0, 0));

        await using (var held = await PostgresLocks.HoldAsync(db, "billing.wolverine_outgoing_envelopes"))
        {
            var factory = new ConnectionFactory { Uri = new Uri(amqp) };
            await using (var connection = await factory.CreateConnectionAsync("test-producer"))
            await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
                await channel.BasicPublishAsync("", "usage", mandatory: true, new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent, MessageId = "producer-msg-1" },
                    Encoding.UTF8.GetBytes(Records.Opened("b-1", "2026-09-01T00:00:00Z", Account)));

            var (status, ready) = await Eventually.UntilAsync(() => ReadyAsync(host), // The two checks read the broker up to a second apart (one cached reading): wait for both.
                r => (long)r.Body["checks"]!["parked"]!["broker"]! == 1 && (long?)r.Body["checks"]!["queues"]!["depths"]!["wolverine-dead-letter-queue"] == 1,
                TimeSpan.FromSeconds(90), "the message on the broker's dead-letter queue after Marten's three retries", describe: r => r.Body.ToJsonString());
            Assert.True(status == HttpStatusCode.ServiceUnavailable, ready.ToJsonString());
            var parked = ready["checks"]!["parked"]!;
            Assert.Equal((1L, 0L), ((long)parked["messages"]!, (long)parked["store"]!));
            Assert.Equal("1 messages are parked (1 on the broker's wolverine-dead-letter-queue), more than BILLING_READY_MAX_PARKED_MESSAGES=0: nothing retries them; billing dead-letters list --messages shows them, replay --messages sends them again",
                (string)parked["reason"]!);
            Assert.Equal(1L, (long)ready["checks"]!["queues"]!["depths"]!["wolverine-dead-letter-queue"]!);

            // Listing takes nothing off the queue.
            var listed = await ParkedMessages.ListAsync(host.Services, 100, CancellationToken.None);
            var message = Assert.Single(listed);
            Assert.Equal(("producer-msg-1", "broker", "usage", "rejected"), (message.Id, message.Where, message.Queue, message.ExceptionMessage));
            Assert.Single(await ParkedMessages.ListAsync(host.Services, 100, CancellationToken.None));
        }
        Assert.Equal(0L, await host.ScalarAsync($"select count(*) from billing.mt_streams where id = '{Account}'"));

        var replayed = await ParkedMessages.ReplayAsync(host.Services, "producer-msg-1", TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal(new ParkedMessages.Replayed(0, 1, 0), replayed);
        await Eventually.UntilAsync(async () => await host.ScalarAsync($"select count(*) from billing.mt_streams where id = '{Account}'") == 1,
            TimeSpan.FromSeconds(60), "the account opened once the message went to `usage` again");
        var after = await Eventually.UntilAsync(() => ReadyAsync(host), r => r.Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "ready again",
            describe: r => r.Body.ToJsonString());
        Assert.Equal(0L, (long)after.Body["checks"]!["parked"]!["messages"]!);
    }
}
