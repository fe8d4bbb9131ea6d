using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Billing.Events;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using Npgsql;
using Xunit;
using Xunit.Abstractions;

namespace Billing.Tests.Scaling;

/// <summary>
/// Three real `billing serve` processes on one database and broker, with a 5 s stale timeout. Two
/// share the four partitions (2+2); a third joins and must get its share. Then a node that owns a
/// partition is frozen with SIGSTOP until the leader has moved its partitions to the others, and
/// resumed with SIGCONT; then one is frozen until the leader has ejected it, and resumed. Each time
/// the node must hold its share again within <see cref="ShareBound"/>. Records published afterwards
/// are each accepted once, and the resumed nodes decide some of them.
/// Before the fix, the joining node never got a partition (Wolverine's even distribution does not
/// move a running one to a node below its share), and a node resumed before the leader ejected it
/// stayed empty too. The children read the machine's clock, so the month is last month by it.
/// </summary>
public sealed class RebalancingTests(ITestOutputHelper output)
{
    static readonly BillingPeriod Month = BillingPeriod.Of(NodaTime.SystemClock.Instance.GetCurrentInstant()).Previous;
    const int Partitions = 4;
    const int StaleSeconds = 5;

    /// <summary>
    /// How long a node live again may wait for its share: the rebalancer's settle period (one stale
    /// timeout), an assignment pass each second, and a move (a stop on one node, a start on the
    /// other), with room for a shared machine that is busy with other tests.
    /// </summary>
    static readonly TimeSpan ShareBound = TimeSpan.FromSeconds(StaleSeconds * 3 + 10);

    /// <summary>For what is only slow, not what the fix is about: starting processes, ingesting.</summary>
    static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    const int SigStop = 19, SigCont = 18;

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int signal);

    [Fact(Timeout = 600_000)]
    public async Task A_node_that_joins_late_or_returns_from_a_stall_gets_its_share_and_records_are_decided_once()
    {
        var watch = Stopwatch.StartNew();
        var lines = new SyntheticUsage(Month, accounts: 4, seed: 17, recordsPerHour: 1, hoursBetweenTraffic: 3).Records().Select(RecordJson.Serialize).ToList();
        var traffic = lines.Count(l => l.Contains("\"traffic.processed\"", StringComparison.Ordinal));
        // Every partition gets records, so whichever the resumed node owns, it has some to decide.
        var partitions = new UsagePartitions(Partitions);
        Assert.Equal(Partitions, lines.Select(l => partitions.Of(UsagePartitions.RoutingKey(l))).Distinct().Count());

        var db = await PostgresServer.CreateDatabaseAsync("billing_rebalance");
        var amqp = await RabbitMqBroker.CreateVirtualHostAsync("rebalance");
        var dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");
        var ports = Enumerable.Range(0, 3).Select(_ => Ports.Free()).ToArray();
        var token = await ThreeServeNodesTests.CreateOperatorKeyAsync(dll, db);
        var nodes = new List<ChildProcess>();
        ChildProcess Serve(int port) => ChildProcess.Start(dll, db, new Dictionary<string, string>
        {
            ["BILLING_URLS"] = $"http://127.0.0.1:{port}",
            ["BILLING_RABBITMQ"] = amqp,
            ["BILLING_INGEST_PARTITIONS"] = $"{Partitions}",
            ["BILLING_NODE_STALE_SECONDS"] = $"{StaleSeconds}",
            ["Logging__LogLevel__Wolverine.Transports.ListeningAgent"] = "Information",
            ["Logging__LogLevel__Wolverine.Runtime.Agents.NodeAgentController"] = "Information",
            ["Logging__LogLevel__Billing.Host.PartitionRebalancing"] = "Information",
            ["Logging__Console__TimestampFormat"] = "yyyy-MM-ddTHH:mm:ss.fff ",
            ["Logging__Console__UseUtcTimestamp"] = "true",
        }, "serve");
        var stopped = -1;
        var ids = new List<Guid>();

        async Task<(int Victim, TimeSpan ReturnedIn)> StallAsync(bool untilEjected)
        {
            var leader = await LeaderAsync(db);
            var owners = await ThreeServeNodesTests.AssignmentsAsync(db);
            var victim = new[] { 2, 1, 0 }.First(i => ids[i] != leader && owners.Values.Contains(ids[i]));
            Signal(nodes[victim], SigStop);
            stopped = victim;
            var frozen = Stopwatch.StartNew();
            await WaitForAsync($"node {victim}'s partitions on the other nodes{(untilEjected ? ", and node " + victim + " ejected" : "")}", async () =>
                (await ThreeServeNodesTests.AssignmentsAsync(db)) is { Count: Partitions } a && !a.Values.Contains(ids[victim])
                && (!untilEjected || !await RegisteredAsync(db, ids[victim])), Patience, nodes);
            var frozenFor = frozen.Elapsed;
            var ejected = !await RegisteredAsync(db, ids[victim]);
            output.WriteLine($"node {victim} stopped for {frozenFor.TotalSeconds:0.0} s ({(ejected ? "ejected" : "still registered, not yet ejected")}): {await DescribeAsync(db, ids)}");
            Assert.True(frozenFor > TimeSpan.FromSeconds(StaleSeconds), $"the partitions moved after {frozenFor}, before the stale timeout");
            Signal(nodes[victim], SigCont);
            stopped = -1;
            output.WriteLine($"node {victim} resumed at {DateTime.UtcNow:HH:mm:ss.fff}");
            var resumed = Stopwatch.StartNew();
            await WaitForAsync($"node {victim} holding its share again within {ShareBound.TotalSeconds} s", async () =>
                Even(await ThreeServeNodesTests.AssignmentsAsync(db), ids) && ListensNow(nodes[victim], victim), ShareBound, nodes);
            output.WriteLine($"node {victim} resumed and holds its share after {resumed.Elapsed.TotalSeconds:0.0} s: {await DescribeAsync(db, ids)}");
            return (victim, resumed.Elapsed);
        }

        try
        {
            // Two nodes share everything out first: 2+2.
            nodes.Add(Serve(ports[0]));
            nodes.Add(Serve(ports[1]));
            ids.Add(await NodeIdAsync(nodes[0], nodes));
            ids.Add(await NodeIdAsync(nodes[1], nodes));
            await WaitForAsync("4 partitions over the first 2 nodes", async () => Counts(await ThreeServeNodesTests.AssignmentsAsync(db), ids) is [2, 2], Patience, nodes);
            output.WriteLine($"2 nodes share the partitions: {await DescribeAsync(db, ids)}, {watch.Elapsed.TotalSeconds:0.0} s");

            // A third joins: it gets one of them, within the bound of its first heartbeat.
            nodes.Add(Serve(ports[2]));
            ids.Add(await NodeIdAsync(nodes[2], nodes));
            await WaitForAsync("node 2 registered", async () => await RegisteredAsync(db, ids[2]), Patience, nodes);
            var joined = Stopwatch.StartNew();
            await WaitForAsync($"node 2 holding a partition within {ShareBound.TotalSeconds} s of registering", async () => Even(await ThreeServeNodesTests.AssignmentsAsync(db), ids), ShareBound, nodes);
            var joinedIn = joined.Elapsed;
            output.WriteLine($"node 2 joined and got its share after {joinedIn.TotalSeconds:0.0} s: {await DescribeAsync(db, ids)}");

            // A node that owns a partition and does not lead stalls past the stale timeout until the leader has moved its
            // partitions, and is resumed: mostly before the leader ejects it (it then stops its own copies and holds nothing).
            // Then a node stalls until it is ejected too: resumed, Wolverine re-registers it with the listeners it still runs.
            var (victim, returnedIn) = await StallAsync(untilEjected: false);
            var (ejectedVictim, returnedAfterEjection) = await StallAsync(untilEjected: true);

            // Records published now are each accepted once, and the resumed node decides some of them.
            var published = Stopwatch.StartNew();
            await ThreeServeNodesTests.PublishAsync(amqp, lines.Chunk(200));
            await WaitForAsync("every record decided", async () => await ThreeServeNodesTests.DecidedAsync(db) >= lines.Count, Patience, nodes);
            output.WriteLine($"{lines.Count:N0} records decided in {published.Elapsed.TotalSeconds:0.0} s");
            Assert.Equal(lines.Count, await DuplicatePublishTests.ScalarAsync(db, "select count(*) from billing.record_ids"));
            Assert.Equal(0, await DuplicatePublishTests.ScalarAsync(db, "select count(*) from billing.mt_doc_deadletter"));
            Assert.Equal(traffic, await DuplicatePublishTests.ScalarAsync(db, DuplicatePublishTests.TrafficRecordsSql));
            Assert.Equal(lines.Count - traffic, await DuplicatePublishTests.ScalarAsync(db, "select count(*) from billing.mt_events where type <> 'traffic_recorded'"));

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Authorization = new("Bearer", token);
            var accepted = new List<double>();
            foreach (var port in ports) accepted.Add(Accepted(await http.GetStringAsync($"http://127.0.0.1:{port}/metrics")));
            output.WriteLine($"accepted per node (its own counter): {string.Join(", ", accepted)}");
            Assert.Equal(lines.Count, accepted.Sum());
            Assert.True(accepted[victim] > 0, $"node {victim} decided none of the records after it resumed");
            Assert.True(accepted[ejectedVictim] > 0, $"node {ejectedVictim} decided none of the records after it was ejected and resumed");
            Assert.True(Even(await ThreeServeNodesTests.AssignmentsAsync(db), ids), $"the partitions are no longer even: {await DescribeAsync(db, ids)}");
            foreach (var n in new[] { victim, ejectedVictim })
                Assert.True(ListensNow(nodes[n], n), $"node {n} no longer listens to a partition:\n{ChildProcess.Tail(nodes[n].StandardOutput, 40)}");
            foreach (var (node, stamp, line) in nodes.SelectMany((n, i) => AssignmentEvents(n.StandardOutput).Select(e => (i, e.Stamp, e.Line))).OrderBy(e => e.Stamp, StringComparer.Ordinal))
                output.WriteLine($"{stamp} node {node}: {line}");
            foreach (var n in new[] { victim, ejectedVictim }.Distinct())
                foreach (var i in ThreeServeNodesTests.ListeningIntervals(nodes[n].StandardOutput, n, DateTime.MaxValue))
                    output.WriteLine($"node {n} listened to partition {i.Partition} {i.From:HH:mm:ss.fff} - {(i.To == DateTime.MaxValue ? "end" : i.To.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture))}");
            output.WriteLine($"join {joinedIn.TotalSeconds:0.0} s, return {returnedIn.TotalSeconds:0.0} s, after ejection {returnedAfterEjection.TotalSeconds:0.0} s (bound {ShareBound.TotalSeconds} s); {watch.Elapsed.TotalSeconds:0.0} s in all");
        }
        finally
        {
            if (stopped >= 0) Signal(nodes[stopped], SigCont);
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    static void Signal(ChildProcess node, int signal)
    {
        if (kill(node.Id, signal) != 0) throw new InvalidOperationException($"kill({node.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>The rebalancer's moves, ejections and re-registrations in a node's log, with the time of each (on the line before, as the console logger writes).</summary>
    static IEnumerable<(string Stamp, string Line)> AssignmentEvents(string log)
    {
        var lines = log.Split('\n');
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.StartsWith("Moving ", StringComparison.Ordinal) || line.StartsWith("Ejected", StringComparison.Ordinal) || line.Contains("re-registered", StringComparison.Ordinal))
                yield return (lines[i - 1].Length >= 23 ? lines[i - 1][11..23] : "", line.Length > 200 ? line[..200] : line);
        }
    }

    static readonly Regex NodeStarted = new(@"Starting agents for Node ([0-9a-f-]{36})", RegexOptions.Compiled);

    /// <summary>The node's Wolverine id, from its own log.</summary>
    static async Task<Guid> NodeIdAsync(ChildProcess node, IReadOnlyList<ChildProcess> nodes)
    {
        Guid id = default;
        await WaitForAsync($"pid {node.Id} naming its node id", () => Task.FromResult(NodeStarted.Match(node.StandardOutput) is { Success: true } m && Guid.TryParse(m.Groups[1].Value, out id)), Patience, nodes);
        return id;
    }

    /// <summary>Partitions held by each of <paramref name="ids"/>, most first (a node with none is a 0).</summary>
    static int[] Counts(Dictionary<string, Guid> assignments, IReadOnlyList<Guid> ids) =>
        ids.Select(id => assignments.Values.Count(v => v == id)).OrderDescending().ToArray();

    /// <summary>All four partitions held by the live nodes of <paramref name="ids"/>, each holding one or two (2+1+1).</summary>
    static bool Even(Dictionary<string, Guid> assignments, IReadOnlyList<Guid> ids) =>
        assignments.Count == Partitions && assignments.Values.All(ids.Contains) && Counts(assignments, ids) is [2, 1, 1];

    /// <summary>The node's own log shows it listening to a partition's queue now.</summary>
    static bool ListensNow(ChildProcess node, int index) =>
        ThreeServeNodesTests.ListeningIntervals(node.StandardOutput, index, DateTime.MaxValue).Any(i => i.To == DateTime.MaxValue);

    static async Task<bool> RegisteredAsync(string db, Guid id) =>
        await DuplicatePublishTests.ScalarAsync(db, $"select count(*) from billing.wolverine_nodes where id = '{id}'") == 1;

    static async Task<Guid?> LeaderAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select node_id from billing.wolverine_node_assignments where id like 'wolverine://leader%'", connection);
        return await cmd.ExecuteScalarAsync() as Guid?;
    }

    static async Task<string> DescribeAsync(string db, IReadOnlyList<Guid> ids) =>
        string.Join(", ", (await ThreeServeNodesTests.AssignmentsAsync(db)).OrderBy(a => a.Key, StringComparer.Ordinal)
            .Select(a => $"{a.Key[(a.Key.LastIndexOf('/') + 1)..]}->node {ids.ToList().IndexOf(a.Value)}"));

    static readonly Regex AcceptedSample = new(@"^billing_records_total\{[^}]*status=""accepted""[^}]*\} (\S+)", RegexOptions.Multiline | RegexOptions.Compiled);

    /// <summary>The node's own count of records it accepted, from its Prometheus scrape.</summary>
    static double Accepted(string scrape) =>
        AcceptedSample.Matches(scrape).Sum(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    /// <summary>Polls every 200 ms up to <paramref name="bound"/>; fails with the nodes' logs if the condition never holds.</summary>
    static Task WaitForAsync(string what, Func<Task<bool>> condition, TimeSpan bound, IReadOnlyList<ChildProcess> nodes) =>
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
            bound, what, TimeSpan.FromMilliseconds(200),
            () => string.Join("\n", nodes.Select((n, i) => $"node {i} log (tail):\n{ChildProcess.Tail(n.StandardOutput, 25)}\nstderr (tail):\n{ChildProcess.Tail(n.StandardError, 10)}")));
}
