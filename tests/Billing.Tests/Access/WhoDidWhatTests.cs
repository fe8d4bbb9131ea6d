using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Host.Access;
using Billing.Host.Features;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Access;

/// <summary>Every accepted batch, rejected record, close and replay names the key or CLI user behind it.</summary>
public class WhoDidWhatTests
{
    const string Account = "121212121212";
    const string Endpoint = "vpce-12121212121212121";

    [Fact]
    public async Task A_posted_batch_names_its_key_on_its_events_and_dead_letters_and_a_replay_names_its_operator()
    {
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { RetryWindow = Duration.Zero });
        var (producer, token) = await host.CreateKeyAsync("producer", name: "east-collector");
        using var client = host.ClientWith(token);
        var body = $"[{Records.Opened("w-1", "2026-10-01T00:00:00Z", Account)},{Records.Traffic("w-2", "2026-10-05T10:00:00Z", Endpoint, "use1-az1", null, 1L << 30)}]";
        using var posted = await client.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);

        var sender = $"key:{producer.Id}:east-collector";
        Assert.Equal([sender], await host.EventUserNamesAsync($"%{Account}%"));
        var letter = Assert.Single(JsonNode.Parse(await host.Http.GetStringAsync("/api/dead-letters"))!.AsArray())!;
        Assert.Equal(("w-2", sender, producer.Id, "east-collector"),
            ((string)letter["recordId"]!, (string)letter["sentBy"]!, (string)letter["key"]!["id"]!, (string)letter["key"]!["name"]!));
        Assert.Null(letter["replayedBy"]);

        // The operator replays it over HTTP: the letter and the batch it becomes name the operator's key.
        var operatorKey = Assert.Single(await host.KeysAsync(), k => k.Name == "test-operator");
        using var replayed = await host.Http.PostAsync("/api/dead-letters/replay?all=true", null);
        Assert.Equal(HttpStatusCode.OK, replayed.StatusCode);
        Assert.Equal("""{"replayed":1,"accepted":0,"duplicates":0,"rejected":1}""", await replayed.Content.ReadAsStringAsync());
        var letters = JsonNode.Parse(await host.Http.GetStringAsync("/api/dead-letters"))!.AsArray();
        var operatorActor = $"key:{operatorKey.Id}:test-operator";
        Assert.Equal(operatorActor, (string)letters.Single(l => l!["replayedAt"] is not null)!["replayedBy"]!);
        Assert.Equal(operatorActor, (string)letters.Single(l => l!["replayedAt"] is null)!["sentBy"]!);
    }

    [Fact]
    public async Task A_close_names_who_closed_it_on_the_close_and_the_invoices_events()
    {
        await using var host = await BillingTestHost.StartAsync();
        var imported = await host.ImportAsync(OctoberScenario.Lines);
        Assert.Equal(0L, imported.Rejected);
        // The import ran as the CLI user of this process.
        Assert.All(await host.EventUserNamesAsync($"%{OctoberScenario.A}%"), n => Assert.Equal($"cli:{Environment.UserName}", n));

        var issued = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), Actor.Cli("alice"), CancellationToken.None);
        await using var session = host.Store.QuerySession();
        var closed = await session.LoadAsync<ClosedPeriod>("2026-10");
        Assert.Equal(("cli:alice", "cli:alice"), (closed!.ClosedBy, closed.LastClosedBy));
        var invoiceEvents = await host.EventUserNamesAsync($"{IssuedInvoice.StreamKey(OctoberScenario.A, new BillingPeriod(2026, 10))}%");
        Assert.NotEmpty(invoiceEvents);
        Assert.All(invoiceEvents, n => Assert.Equal("cli:alice", n));
        Assert.Single(issued);

        await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), Actor.Cli("bob"), CancellationToken.None);
        await using var again = host.Store.QuerySession();
        var reclosed = await again.LoadAsync<ClosedPeriod>("2026-10");
        Assert.Equal(("cli:alice", "cli:bob"), (reclosed!.ClosedBy, reclosed.LastClosedBy));
    }

    [Theory]
    [InlineData("key:0123456789ab:east-collector", "key", "0123456789ab", "east-collector")]
    [InlineData("cli:root", "cli", null, "root")]
    [InlineData("jwt:ops-alice", "jwt", null, "ops-alice")]
    [InlineData("jwt:auth0|64f0:east", "jwt", null, "auth0|64f0:east")]
    [InlineData("cli:domain:user", "cli", null, "domain:user")]
    [InlineData("schedule", "schedule", null, null)]
    [InlineData("broker", "broker", null, null)]
    public void An_actor_reads_back_as_written(string text, string kind, string? keyId, string? name)
    {
        var actor = Actor.Parse(text)!;
        Assert.Equal((kind, keyId, name), (actor.Kind, actor.KeyId, actor.Name));
        Assert.Equal(text, actor.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("key:")]
    [InlineData("key:id-without-name")]
    [InlineData("jwt:")]
    [InlineData("someone")]
    public void Text_of_another_shape_is_no_actor(string? text) => Assert.Null(Actor.Parse(text));
}
