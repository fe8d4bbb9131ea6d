using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Billing.Events;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using Npgsql;
using RabbitMQ.Client;
using Xunit;
using Xunit.Abstractions;

namespace Billing.Tests.Scaling;

/// <summary>
/// Three real `billing serve` processes on one database and one broker, ingesting at once: producers
/// publish raw JSON onto the broker's `usage` queue and post to the nodes' HTTP API, and one node is
/// killed with SIGKILL part-way. The partitions are spread over every node, a killed node's move to
/// the live ones, each partition is listened to by one node at a time, every record is accepted
/// once, and the usage equals that of a single in-process import of the same month.
/// The children read the machine's clock, so the month is last month by that clock.
/// </summary>
public sealed class ThreeServeNodesTests(ITestOutputHelper output)
{
    static readonly BillingPeriod Month = BillingPeriod.Of(NodaTime.SystemClock.Instance.GetCurrentInstant()).Previous;
    static readonly TimeSpan Bound = TimeSpan.FromMinutes(3);
    const int Partitions = 4;

    [Fact(Timeout = 600_000)]
    public async Task Three_nodes_share_the_partitions_and_decide_every_record_once_when_one_is_killed()
    {
        var watch = Stopwatch.StartNew();
        var lines = new SyntheticUsage(Month, accounts: 4, seed: 17, recordsPerHour: 1).Records().Select(RecordJson.Serialize).ToList();
        var traffic = lines.Count(l => l.Contains("\"traffic.processed\"", StringComparison.Ordinal));

        var db = await PostgresServer.CreateDatabaseAsync("billing_three");
        var amqp = await RabbitMqBroker.CreateVirtualHostAsync("three");
        var dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");
        var ports = Enumerable.Range(0, 3).Select(_ => Ports.Free()).ToArray();
        var token = await CreateOperatorKeyAsync(dll, db);
        var nodes = ports.Select(port => ChildProcess.Start(dll, db, new Dictionary<string, string>
        {
            ["BILLING_URLS"] = $"http://127.0.0.1:{port}",
            ["BILLING_RABBITMQ"] = amqp,
            ["BILLING_INGEST_PARTITIONS"] = $"{Partitions}",
            ["Logging__LogLevel__Wolverine.Transports.ListeningAgent"] = "Information",
            ["Logging__Console__TimestampFormat"] = "yyyy-MM-ddTHH:mm:ss.fff ",
            ["Logging__Console__UseUtcTimestamp"] = "true",
        }, "serve")).ToList();
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Authorization = new("Bearer", token);
            foreach (var port in ports) await WaitForAsync($"node on port {port} answering", async () =>
                (await TryGetAsync(http, $"http://127.0.0.1:{port}/api/dead-letters")) == HttpStatusCode.OK, nodes);
            // Every node owns a partition before the producers start: the leader spreads them.
            await WaitForAsync("4 partitions assigned over 3 nodes", async () => (await AssignmentsAsync(db)) is { Count: Partitions } a && a.Values.Distinct().Count() == 3, nodes);
            output.WriteLine($"3 nodes up, partitions spread {string.Join(", ", (await AssignmentsAsync(db)).OrderBy(a => a.Key).Select(a => $"{a.Key}->{a.Value.ToString()[..8]}"))} after {watch.Elapsed.TotalSeconds:0.0} s");

            // Producers: two thirds of the bodies on the broker, one third posted over HTTP, at once.
            var chunks = lines.Chunk(200).ToList();
            var killed = 2;
            var killedAt = DateTime.MaxValue;
            var alive = new[] { true, true, true };
            var broker = PublishAsync(amqp, chunks.Where((_, i) => i % 3 != 0));
            var posts = PostAsync(http, ports, alive, chunks.Where((_, i) => i % 3 == 0));
            await WaitForAsync("40% of the records decided", async () => await DecidedAsync(db) >= lines.Count * 4 / 10, nodes);
            killedAt = DateTime.UtcNow;
            alive[killed] = false;
            nodes[killed].KillNow();
            output.WriteLine($"killed node {killed} at {await DecidedAsync(db):N0} of {lines.Count:N0} decided, {watch.Elapsed.TotalSeconds:0.0} s");
            await Task.WhenAll(broker, posts);

            await WaitForAsync("every record decided", async () => await DecidedAsync(db) >= lines.Count, nodes);
            await WaitForAsync("the killed node's partitions on the 2 live nodes", async () =>
                await NodeCountAsync(db) == 2 && (await AssignmentsAsync(db)) is { Count: Partitions } a && a.Values.Distinct().Count() == 2, nodes);
            output.WriteLine($"partitions after the kill {string.Join(", ", (await AssignmentsAsync(db)).OrderBy(a => a.Key).Select(a => $"{a.Key}->{a.Value.ToString()[..8]}"))}, {watch.Elapsed.TotalSeconds:0.0} s");

            // Each record accepted once: ids, lifecycle events and traffic records, nothing rejected.
            Assert.Equal(lines.Count, await DuplicatePublishTests.ScalarAsync(db, "select count(*) from billing.record_ids"));
            Assert.Equal(0, await DuplicatePublishTests.ScalarAsync(db, "select count(*) from billing.mt_doc_deadletter"));
            Assert.Equal(traffic, await DuplicatePublishTests.ScalarAsync(db, DuplicatePublishTests.TrafficRecordsSql));
            Assert.Equal(lines.Count - traffic, await DuplicatePublishTests.ScalarAsync(db, "select count(*) from billing.mt_events where type <> 'traffic_recorded'"));

            // Each partition was listened to by one node at a time, and every node listened to one.
            var intervals = nodes.SelectMany((n, i) => ListeningIntervals(n.StandardOutput, i, i == killed ? killedAt : DateTime.MaxValue)).ToList();
            foreach (var line in intervals.OrderBy(x => x.Partition).ThenBy(x => x.From))
                output.WriteLine($"partition {line.Partition}: node {line.Node} {line.From:HH:mm:ss.fff} - {(line.To == DateTime.MaxValue ? "end" : line.To.ToString("HH:mm:ss.fff"))}");
            Assert.True(intervals.Select(x => x.Node).Distinct().Count() == 3,
                "every node must listen to a partition; node 0's log (tail):\n" + ChildProcess.Tail(nodes[0].StandardOutput, 40));
            Assert.Equal(Enumerable.Range(1, Partitions), intervals.Select(x => x.Partition).Distinct().Order());
            foreach (var partition in intervals.GroupBy(x => x.Partition))
            {
                var ordered = partition.OrderBy(x => x.From).ToList();
                for (var i = 1; i < ordered.Count; i++)
                    Assert.True(ordered[i].From >= ordered[i - 1].To,
                        $"partition {partition.Key}: node {ordered[i].Node} started listening at {ordered[i].From:HH:mm:ss.fff} while node {ordered[i - 1].Node} listened until {ordered[i - 1].To:HH:mm:ss.fff}");
            }
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }

        // The usage equals that of one import of the same month into a fresh database.
        await using var reader = await BillingTestHost.StartAsync(db, s => s with { RabbitMqUri = amqp }, NodaTime.SystemClock.Instance.GetCurrentInstant());
        var usage = await reader.AllUsageJsonAsync(Month.ToString());
        await using var once = await BillingTestHost.StartAsync(now: NodaTime.SystemClock.Instance.GetCurrentInstant());
        var single = await once.ImportAsync(lines);
        Assert.Equal((lines.Count, 0L, 0L), (single.Accepted, single.Duplicates, single.Rejected));
        var expected = await once.AllUsageJsonAsync(Month.ToString());
        Assert.Equal(4, expected.Count);
        Assert.Equal(expected.Keys.Order(), usage.Keys.Order());
        foreach (var (account, json) in expected) Assert.Equal(json, usage[account]);
        output.WriteLine($"{lines.Count:N0} records over 3 nodes, one killed: usage of {expected.Count} accounts exact; {watch.Elapsed.TotalSeconds:0.0} s");
    }

    internal static async Task PublishAsync(string amqpUri, IEnumerable<string[]> chunks)
    {
        var factory = new ConnectionFactory { Uri = new Uri(amqpUri) };
        await using var connection = await factory.CreateConnectionAsync("test-three-producer");
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        foreach (var chunk in chunks)
            await channel.BasicPublishAsync("", "usage", mandatory: true,
                new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent },
                Encoding.UTF8.GetBytes($"[{string.Join(',', chunk)}]"));
    }

    /// <summary>An operator's key made by `billing keys create`, as an operator sets up a new database before the nodes serve.</summary>
    internal static async Task<string> CreateOperatorKeyAsync(string dll, string db)
    {
        await using var keys = ChildProcess.Start(dll, db, "keys", "create", "--role", "operator", "--name", "three-nodes");
        var exit = await keys.WaitForExitAsync(TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, $"keys create exited {exit}: {keys.StandardError}");
        return keys.StandardOutput.Trim();
    }

    /// <summary>Posts each chunk to the next live node, as a producer behind a load balancer would; a node that stops answering gets the chunk's retry on another.</summary>
    static async Task PostAsync(HttpClient http, int[] ports, bool[] alive, IEnumerable<string[]> chunks)
    {
        var next = 0;
        foreach (var chunk in chunks)
        {
            var body = $"[{string.Join(',', chunk)}]";
            for (var attempt = 0; ; attempt++)
            {
                var node = next++ % ports.Length;
                if (!alive[node]) continue;
                try
                {
                    using var response = await http.PostAsync($"http://127.0.0.1:{ports[node]}/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
                    if (response.IsSuccessStatusCode) break;
                    if (attempt > 20) throw new InvalidOperationException($"node {node} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
                catch (HttpRequestException) when (attempt < 20)
                {
                    // The node died mid-request: the chunk goes again to another node (its records decide as duplicates where they landed).
                }
            }
        }
    }

    internal sealed record Interval(int Partition, int Node, DateTime From, DateTime To);

    static readonly Regex LogLine = new(@"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) ", RegexOptions.Compiled);
    static readonly Regex Listening = new(@"(Started message listening at|Stopped message listener at) \S*usage_partition(\d+)", RegexOptions.Compiled);

    /// <summary>When a node listened to each partition's queue, from its own log on stdout, where the console logger writes (the killed node's last interval ends when it was killed).</summary>
    internal static IEnumerable<Interval> ListeningIntervals(string log, int node, DateTime killedAt)
    {
        var open = new Dictionary<int, DateTime>();
        DateTime? stamp = null;
        foreach (var line in log.Split('\n'))
        {
            if (LogLine.Match(line) is { Success: true } t) stamp = DateTime.ParseExact(t.Groups[1].Value, "yyyy-MM-ddTHH:mm:ss.fff", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
            if (Listening.Match(line) is not { Success: true } m || stamp is null) continue;
            var partition = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            if (m.Groups[1].Value.StartsWith("Started", StringComparison.Ordinal)) open[partition] = stamp.Value;
            else if (open.Remove(partition, out var from)) yield return new Interval(partition, node, from, stamp.Value);
        }
        foreach (var (partition, from) in open) yield return new Interval(partition, node, from, killedAt);
    }

    internal static async Task<Dictionary<string, Guid>> AssignmentsAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select a.id, a.node_id from billing.wolverine_node_assignments a join billing.wolverine_nodes n on n.id = a.node_id where a.id like '%usage_partition%'", connection);
        await using var reader = await cmd.ExecuteReaderAsync();
        var map = new Dictionary<string, Guid>();
        while (await reader.ReadAsync()) map[reader.GetString(0)] = reader.GetGuid(1);
        return map;
    }

    static Task<long> NodeCountAsync(string db) => DuplicatePublishTests.ScalarAsync(db, "select count(*) from billing.wolverine_nodes");

    internal static Task<long> DecidedAsync(string db) =>
        DuplicatePublishTests.ScalarAsync(db, "select (select count(*) from billing.record_ids) + (select count(*) from billing.mt_doc_deadletter)");

    internal static async Task<HttpStatusCode?> TryGetAsync(HttpClient http, string url)
    {
        try
        {
            using var response = await http.GetAsync(url);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>Polls a condition every 200 ms up to <see cref="Bound"/>; fails with the nodes' logs if it never holds.</summary>
    static Task WaitForAsync(string what, Func<Task<bool>> condition, IReadOnlyList<ChildProcess> nodes) =>
        Eventually.UntilAsync(async () =>
            {
                try
                {
                    return await condition();
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    return false; // the nodes have not created their tables yet
                }
            },
            Bound, what, TimeSpan.FromMilliseconds(200),
            () => string.Join("\n", nodes.Select((n, i) => $"node {i} stderr (tail):\n{ChildProcess.Tail(n.StandardError, 15)}")));

}
