using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.RejectedRecords;

public class DeadLetterTests
{
    [Fact]
    public async Task A_dead_lettered_record_is_listed_and_accepted_when_replayed_after_its_endpoint_arrives()
    {
        const string e = "vpce-77777777777777777";
        const string account = "777788889999";
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { RetryWindow = Duration.Zero });

        var traffic = Records.Traffic("d-1", "2026-10-05T10:00:00Z", e, "use1-az1", "use1-az2", 3L << 30);
        var first = await host.ImportAsync([traffic]);
        Assert.Equal((0L, 1L), (first.Accepted, first.Rejected));

        var listed = JsonNode.Parse(await host.Http.GetStringAsync("/api/dead-letters"))!.AsArray();
        var letter = Assert.Single(listed)!;
        Assert.Equal(("d-1", "unknown-endpoint", traffic), ((string)letter["recordId"]!, (string)letter["code"]!, (string)letter["json"]!));
        Assert.Contains($"endpoint {e} is not known", (string)letter["reason"]!);
        Assert.Equal("2026-11-01T00:00:00Z", (string)letter["arrivedAt"]!);
        Assert.Null(letter["replayedAt"]);

        await host.ImportAsync([Records.Created("d-2", "2026-10-01T00:00:00Z", e, account, "us-east-1", "Interface", "use1-az1")]);
        var replay = await DeadLetters.ReplayAsync(host.Services, null, Billing.Host.Access.Actor.Cli("test"), CancellationToken.None);
        Assert.Equal((1L, 1L, 0L, 0L), (replay.Records, replay.Accepted, replay.Duplicates, replay.Rejected));

        var usage = await host.UsageAsync(account, "2026-10");
        Assert.Equal(3L << 30, Assert.Single(usage.DataProcessed).Bytes);
        Assert.Equal(3L << 30, Assert.Single(usage.CrossAz).Bytes);

        var after = JsonNode.Parse(await host.Http.GetStringAsync("/api/dead-letters"))!.AsArray();
        Assert.Equal("2026-11-01T00:00:00Z", (string)Assert.Single(after)!["replayedAt"]!);

        // Replaying everything again finds nothing left to replay; replaying that one again is a duplicate.
        Assert.Equal(0L, (await DeadLetters.ReplayAsync(host.Services, null, Billing.Host.Access.Actor.Cli("test"), CancellationToken.None)).Records);
        var again = await DeadLetters.ReplayAsync(host.Services, Guid.Parse((string)letter["id"]!), Billing.Host.Access.Actor.Cli("test"), CancellationToken.None);
        Assert.Equal((1L, 0L, 1L), (again.Records, again.Accepted, again.Duplicates));
        Assert.Equal(3L << 30, Assert.Single((await host.UsageAsync(account, "2026-10")).DataProcessed).Bytes);
    }
}
