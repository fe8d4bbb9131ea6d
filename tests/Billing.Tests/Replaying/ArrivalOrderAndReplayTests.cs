using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;
using Marten;

namespace Billing.Tests.Replaying;

public class ArrivalOrderAndReplayTests
{
    /// <summary>
    /// Event time, not arrival time: the same records shuffled across many small bus messages
    /// (traffic before its endpoint exists, removals before additions) give identical usage.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Shuffled_arrival_orders_give_identical_usage(int seed)
    {
        var random = new Random(seed);
        var shuffled = OctoberScenario.Lines.OrderBy(_ => random.Next()).ToList();
        await using var host = await BillingTestHost.StartAsync();
        var result = await host.ImportAsync(shuffled, batchSize: 2);
        Assert.Equal((17L, 0L, 0L), (result.Accepted, result.Duplicates, result.Rejected));
        Assert.Equal(OctoberScenario.ExpectedA, await host.UsageJsonAsync(OctoberScenario.A, "2026-10"));
        Assert.Equal(OctoberScenario.ExpectedB, await host.UsageJsonAsync(OctoberScenario.B, "2026-10"));
        Assert.Equal(OctoberScenario.ExpectedASeptember, await host.UsageJsonAsync(OctoberScenario.A, "2026-09"));
    }

    /// <summary>Every projection rebuilt from the event store gives the usage the live projections gave.</summary>
    [Fact]
    public async Task A_projection_replay_rebuilds_identical_usage()
    {
        var period = new BillingPeriod(2026, 10);
        var synthetic = new SyntheticUsage(period, accounts: 6, seed: 11, hoursBetweenTraffic: 4);
        var lines = synthetic.Records().Select(Billing.Events.RecordJson.Serialize).ToList();
        string connection;
        Dictionary<string, string> before;
        long trafficHours;
        string trafficDigest;
        await using (var live = await BillingTestHost.StartAsync())
        {
            connection = live.Settings.ConnectionString;
            var result = await live.ImportAsync(lines);
            Assert.Equal(lines.Count, result.Accepted);
            before = await live.AllUsageJsonAsync("2026-10");
            trafficHours = await TrafficHourRowsAsync(connection);
            trafficDigest = await TrafficHoursDigestAsync(connection);
        }
        Assert.True(before.Count >= 6, $"usage for {before.Count} accounts");
        Assert.True(trafficHours > 6, $"{trafficHours} traffic hours");

        // A second host on the same database, without the daemon, as `billing replay` runs.
        await using var replaying = await BillingTestHost.StartAsync(connection, s => s with { RunDaemon = false });
        await using (var wipe = replaying.Store.LightweightSession())
        {
            wipe.QueueSqlCommand($"delete from {TrafficHoursTable.Name}");
            wipe.DeleteWhere<EndpointTimeline>(_ => true);
            await wipe.SaveChangesAsync();
        }
        Assert.Empty(await replaying.AllUsageJsonAsync("2026-10"));

        var events = await ReplayProjections.ReplayAsync(replaying.Store, connection, CancellationToken.None);
        Assert.True(events > 0);

        var after = await replaying.AllUsageJsonAsync("2026-10");
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var account in before.Keys) Assert.Equal(before[account], after[account]);
        Assert.Equal(trafficHours, await TrafficHourRowsAsync(connection));
        Assert.Equal(trafficDigest, await TrafficHoursDigestAsync(connection)); // row for row what the inline projection wrote
    }

    /// <summary>Every row of the traffic-hours table as one hash: equal tables give equal digests.</summary>
    static async Task<string> TrafficHoursDigestAsync(string connectionString)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand($"""
            select md5(string_agg(concat_ws('|', endpoint_id, hour, az_id, source_az_id, bytes, batch), ';' order by endpoint_id, hour, az_id, source_az_id, batch))
            from {TrafficHoursTable.Name}
            """, connection);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    static async Task<long> TrafficHourRowsAsync(string connectionString)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand($"select count(*) from {TrafficHoursTable.Name}", connection);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
