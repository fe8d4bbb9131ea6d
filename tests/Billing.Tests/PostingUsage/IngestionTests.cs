using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Host;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;

namespace Billing.Tests.PostingUsage;

/// <summary>Records in through the real bus and the real HTTP endpoint, usage out of real PostgreSQL.</summary>
public class IngestionTests : IAsyncLifetime
{
    BillingTestHost _host = null!;

    public async Task InitializeAsync() => _host = await BillingTestHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Usage_through_the_bus_matches_the_hand_computed_october()
    {
        var result = await _host.ImportAsync(OctoberScenario.Lines);
        Assert.Equal((17L, 17L, 0L, 0L), (result.Records, result.Accepted, result.Duplicates, result.Rejected));
        Assert.Equal(OctoberScenario.ExpectedA, await _host.UsageJsonAsync(OctoberScenario.A, "2026-10"));
        Assert.Equal(OctoberScenario.ExpectedB, await _host.UsageJsonAsync(OctoberScenario.B, "2026-10"));
        Assert.Equal(OctoberScenario.ExpectedASeptember, await _host.UsageJsonAsync(OctoberScenario.A, "2026-09"));

        // The HTTP route answers the same document.
        var http = await _host.Http.GetStringAsync($"/api/usage/{OctoberScenario.A}/2026-10");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(OctoberScenario.ExpectedA), JsonNode.Parse(http)), http);

        // Importing the same file again changes nothing: every id was already accepted.
        var again = await _host.ImportAsync(OctoberScenario.Lines);
        Assert.Equal((17L, 0L, 17L, 0L), (again.Records, again.Accepted, again.Duplicates, again.Rejected));
        Assert.Equal(OctoberScenario.ExpectedA, await _host.UsageJsonAsync(OctoberScenario.A, "2026-10"));
        Assert.Equal(OctoberScenario.ExpectedB, await _host.UsageJsonAsync(OctoberScenario.B, "2026-10"));
    }

    [Fact]
    public async Task The_http_endpoint_answers_per_record_and_bad_records_do_not_harm_good_ones()
    {
        const string e = "vpce-33333333333333333";
        var body = "[" + string.Join(",",
            Records.Created("h-1", "2026-10-01T00:00:00Z", e, "555566667777", "ap-northeast-1", "Interface", "apne1-az1"),
            Records.Traffic("h-2", "2026-10-01T00:10:00Z", e, "apne1-az1", "apne1-az2", 1L << 30),
            Records.Traffic("h-2", "2026-10-01T00:10:00Z", e, "apne1-az1", "apne1-az2", 1L << 30),
            Records.Traffic("h-2", "2026-10-01T00:10:00Z", e, "apne1-az1", "apne1-az2", 2L << 30),
            """{"type":"traffic.processed","id":"h-3","at":"2026-10-01T00:20:00Z","endpointId":"vpce-33333333333333333","azId":"apne1-az1","bytes":-5}""",
            """{"type":"who.knows","id":"h-4"}""",
            Records.Traffic("h-5", "2026-10-01T00:30:00Z", "vpce-44444444444444444", "apne1-az1", null, 1),
            "42") + "]";
        var response = await _host.Http.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(2, (int)answer["accepted"]!);
        Assert.Equal(1, (int)answer["duplicates"]!);
        Assert.Equal(4, (int)answer["rejected"]!);
        Assert.Equal(1, (int)answer["pending"]!);
        var statuses = answer["results"]!.AsArray().Select(r => $"{r!["status"]}:{r["code"]}").ToList();
        Assert.Equal(["accepted:", "accepted:", "duplicate:", "rejected:duplicate-conflict", "rejected:invalid-field", "rejected:unknown-type", "pending:unknown-endpoint", "rejected:malformed-json"], statuses);
        Assert.Equal("field 'bytes' -5 is negative", (string)answer["results"]![4]!["reason"]!);

        var usage = await _host.UsageAsync("555566667777", "2026-10");
        Assert.Equal(744, Assert.Single(usage.EndpointHours).Hours);
        Assert.Equal(1L << 30, Assert.Single(usage.DataProcessed).Bytes);
        Assert.Equal(1L << 30, Assert.Single(usage.CrossAz).Bytes);

        await using var session = _host.Store.QuerySession();
        var dead = await session.Query<Billing.Metering.Ingestion.DeadLetter>().ToListAsync();
        Assert.Equal(["duplicate-conflict", "invalid-field", "malformed-json", "unknown-type"], dead.Select(d => d.Code).Order());
        Assert.Contains(dead, d => d.Json == """{"type":"who.knows","id":"h-4"}""");
    }

    [Fact]
    public async Task Unreadable_or_oversized_http_bodies_get_a_4xx_and_store_nothing()
    {
        var notJson = await _host.Http.PostAsync("/api/usage/events", new StringContent("[{", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Contains("not valid JSON", await notJson.Content.ReadAsStringAsync());

        var notArray = await _host.Http.PostAsync("/api/usage/events", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, notArray.StatusCode);

        var tooMany = "[" + string.Join(",", Enumerable.Range(0, PostUsageEvents.MaxRecords + 1).Select(i => "{}")) + "]";
        var oversized = await _host.Http.PostAsync("/api/usage/events", new StringContent(tooMany, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oversized.StatusCode);
        Assert.Contains("10001 records; at most 10000", await oversized.Content.ReadAsStringAsync());

        var badQuery = await _host.Http.GetAsync("/api/usage/111122223333/2026-13");
        Assert.Equal(HttpStatusCode.BadRequest, badQuery.StatusCode);

        await using var session = _host.Store.QuerySession();
        Assert.Equal(0, await session.Query<Billing.Metering.Ingestion.DeadLetter>().CountAsync());
    }

    [Fact]
    public async Task A_record_waiting_for_its_endpoint_is_accepted_once_the_creation_arrives()
    {
        const string e = "vpce-55555555555555555";
        var first = await _host.Http.PostAsJsonAsync("/api/usage/events", new[]
        {
            JsonNode.Parse(Records.Traffic("w-1", "2026-10-03T00:10:00Z", e, "use1-az1", null, 1000)),
        });
        var answer = JsonNode.Parse(await first.Content.ReadAsStringAsync())!;
        Assert.Equal("pending", (string)answer["results"]![0]!["status"]!);

        var import = await _host.ImportAsync([Records.Created("w-2", "2026-10-03T00:00:00Z", e, "666677778888", "us-east-1", "Interface", "use1-az1")]);
        Assert.Equal(1, import.Accepted);

        // The record is retried every 300 ms (tests' retry delay) and the first retry after the creation
        // accepts it. That retry may run before any tracked session could start, so the wait is on
        // what it leaves behind: the account's usage.
        var usage = await Eventually.UntilAsync(() => _host.UsageAsync("666677778888", "2026-10"), u => u.DataProcessed.Count > 0,
            TimeSpan.FromSeconds(30), "w-1 accepted on a retry after its endpoint's creation");
        Assert.Equal(1000m, Assert.Single(usage.DataProcessed).Bytes);
    }

    [Fact]
    public async Task An_instant_in_a_bus_message_survives_the_round_trip()
    {
        // Platform pitfall: without NodaTime on Wolverine's serializer an Instant becomes 1970-01-01.
        var at = Instant.FromUtc(2026, 10, 31, 23, 59, 58) + Duration.FromMilliseconds(125);
        var message = new IngestBatch(Guid.NewGuid(), [new Billing.Metering.Ingestion.IncomingRecord("{}", at)]);
        var runtime = _host.Services.GetRequiredService<Wolverine.Runtime.IWolverineRuntime>();
        var configured = runtime.Options.DefaultSerializer;
        var envelope = new Wolverine.Envelope(message);
        var bytes = configured.Write(envelope);
        var back = (IngestBatch)configured.ReadFromData(typeof(IngestBatch), new Wolverine.Envelope { Data = bytes });
        Assert.Equal(at, back.Records[0].FirstSeenAt);
    }
}
