using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using Npgsql;
using RabbitMQ.Client;
using Xunit.Abstractions;

namespace Billing.Tests.AsDeployed;

/// <summary>
/// The service as an operator runs it, every option on at once, with real processes: three `serve`
/// nodes on RabbitMQ, behind API keys, traced over OTLP/HTTP to a receiver of the test's own, the
/// schedule ticking. Producers publish shuffled records on the broker and post them over HTTP; while
/// they do, PostgreSQL is restarted, the broker is restarted and one node is SIGKILLed. Then a
/// rolling restart lowers the close's grace to 0 and the schedule closes last month (and the earlier
/// open periods the fleet's history reaches). The database
/// and the broker are this test's own (<see cref="ScriptedCheckout"/>), so restarting them touches no
/// other test. The nodes read the machine's clock, so the month is last month by that clock.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AsDeployedTests(ITestOutputHelper output)
{
    static readonly BillingPeriod Month = BillingPeriod.Of(NodaTime.SystemClock.Instance.GetCurrentInstant()).Previous;
    static readonly TimeSpan Bound = TimeSpan.FromMinutes(3);
    const int Partitions = 4;
    const int Accounts = 4;
    static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(150);

    readonly Stopwatch _watch = Stopwatch.StartNew();
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _pathOf = new();
    readonly List<ChildProcess> _nodes = [];

    [Fact(Timeout = 900_000)]
    public async Task Three_traced_nodes_on_the_broker_survive_a_database_restart_a_broker_restart_and_a_kill_and_the_schedule_invoices_every_account_once()
    {
        var lines = new SyntheticUsage(Month, accounts: Accounts, seed: 23, recordsPerHour: 1).Records().Select(RecordJson.Serialize).ToList();
        var traffic = lines.Count(l => l.Contains("\"traffic.processed\"", StringComparison.Ordinal));
        // Three bursts in event-time order, each shuffled: a record may come before the one it needs,
        // and waits for it; every record a burst needs is in it or an earlier one.
        var random = new Random(23);
        var bursts = lines.Chunk((lines.Count + 2) / 3).Select(b => b.OrderBy(_ => random.Next()).ToList()).ToList();

        await using var checkout = new ScriptedCheckout();
        await checkout.RequireAsync(checkout.DbAsync, "start");
        await checkout.RequireAsync(checkout.BrokerAsync, "start");
        var db = await checkout.CreateDatabaseAsync("billing_deployed");
        var amqp = await checkout.RequireAsync(checkout.BrokerAsync, "url");
        await using var receiver = await OtlpReceiver.StartAsync();
        var dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");
        var operatorKey = await KeyAsync(dll, db, "operator");
        var producerKey = await KeyAsync(dll, db, "producer");
        using var operatorHttp = Client(operatorKey);
        using var producerHttp = Client(producerKey);
        Log($"{lines.Count:N0} records ({traffic:N0} traffic) of {Month} for {Accounts} accounts; database on {checkout.DatabasePort}, broker on {checkout.BrokerPort}");

        try
        {
            // Phase 1: ingest while things break. The grace keeps last month open until the operator lowers it.
            var ports = Enumerable.Range(0, 3).Select(_ => Ports.Free()).ToArray();
            var nodes = ports.Select(p => StartNode(dll, db, amqp, receiver, p, graceHours: "100000")).ToArray();
            await WaitForAsync("3 nodes ready", async () => (await Task.WhenAll(ports.Select(p => ReadyAsync(operatorHttp, p)))).All(r => r.Status == HttpStatusCode.OK));
            // Wolverine's own distribution puts at most ceil(4/3) = 2 on a node; the third node's share (2+1+1
            // rather than 2+2+0) is PartitionRebalancing's. The node killed below is whichever holds most.
            await WaitForAsync("4 partitions spread over the 3 nodes", () => AssignmentsAsync(db), a => a.Count == Partitions && a.Values.Distinct().Count() == 3,
                a => string.Join(", ", a.Select(p => $"{p.Key} -> {p.Value}")));
            Log("3 nodes up, partitions spread");

            var alive = new[] { true, true, true };
            var sent = 0;
            // Burst 1: PostgreSQL restarts under it.
            var burst = ProduceAsync(amqp, producerHttp, ports, alive, bursts[0]);
            await WaitForAsync("a third of burst 1 decided", async () => await DecidedAsync(db) >= bursts[0].Count / 3);
            await checkout.RequireAsync(checkout.DbAsync, "stop");
            Log("PostgreSQL stopped");
            await Task.Delay(TimeSpan.FromSeconds(3)); // down for a while, as a restart is: the nodes must notice
            await checkout.RequireAsync(checkout.DbAsync, "start");
            Log("PostgreSQL started again");
            await burst;
            sent += bursts[0].Count;
            await SettledAsync(db, operatorHttp, ports[0], sent, "burst 1");

            // Burst 2: the broker restarts under it.
            burst = ProduceAsync(amqp, producerHttp, ports, alive, bursts[1]);
            await WaitForAsync("a tenth of burst 2 decided", async () => await DecidedAsync(db) >= sent + bursts[1].Count / 10);
            await checkout.RequireAsync(checkout.BrokerAsync, "stop");
            Log("broker stopped");
            await Task.Delay(TimeSpan.FromSeconds(3));
            await checkout.RequireAsync(checkout.BrokerAsync, "start");
            Log("broker started again");
            await burst;
            sent += bursts[1].Count;
            await SettledAsync(db, operatorHttp, ports[0], sent, "burst 2");

            // The node with most partitions is killed with everything settled, so its counters' last scrape is all
            // it counted (Prometheus keeps a dead target's last scrape the same way); burst 3 goes to the other two.
            var held = await AssignmentsAsync(db);
            var victim = Enumerable.Range(0, nodes.Length).MaxBy(i => held.Values.Count(n => n == NodeIdOf(nodes[i])));
            var counted = new List<PrometheusSample>();
            counted.AddRange(await MetricsAsync(operatorHttp, ports[victim]));
            alive[victim] = false;
            nodes[victim].KillNow();
            Log($"node {victim} killed, with {held.Values.Count(n => n == NodeIdOf(nodes[victim]))} of the {Partitions} partitions");
            await ProduceAsync(amqp, producerHttp, ports, alive, bursts[2]);
            sent += bursts[2].Count;
            await WaitForAsync("the killed node's partitions on the live nodes", async () =>
                await ScalarAsync(db, "select count(*) from billing.wolverine_nodes") == 2 && (await AssignmentsAsync(db)) is { Count: Partitions } a && a.Values.Distinct().Count() == 2);
            await SettledAsync(db, operatorHttp, ports[Array.IndexOf(alive, true)], sent, "burst 3");

            // Exactly once: every id accepted, nothing refused, each fact stored once.
            Assert.Equal(lines.Count, await ScalarAsync(db, "select count(*) from billing.record_ids"));
            Assert.Equal(0, await ScalarAsync(db, "select count(*) from billing.mt_doc_deadletter"));
            Assert.Equal(traffic, await ScalarAsync(db, DuplicatePublishTests.TrafficRecordsSql));
            Assert.Equal(lines.Count - traffic, await ScalarAsync(db, "select count(*) from billing.mt_events where type <> 'traffic_recorded'"));

            // Phase 2: a rolling restart with the grace at 0; the schedule closes last month.
            foreach (var i in Enumerable.Range(0, nodes.Length).Where(i => alive[i]))
            {
                counted.AddRange(await MetricsAsync(operatorHttp, ports[i]));
                await nodes[i].StopAsync(TimeSpan.FromSeconds(60));
            }
            Log("the two live nodes stopped; restarting all three with the grace at 0");
            ports = Enumerable.Range(0, 3).Select(_ => Ports.Free()).ToArray();
            nodes = ports.Select(p => StartNode(dll, db, amqp, receiver, p, graceHours: "0")).ToArray();
            // The schedule closes every open period that is due: last month, and the earlier ones the fleet's history reaches.
            await WaitForAsync($"{Month} and every earlier open period closed by the schedule, each invoice issued with its PDF",
                async () => (Due: await ScalarAsync(db, "select coalesce(sum(jsonb_array_length(data->'accountsDue')), 0) from billing.mt_doc_closedperiod"),
                    WithPdf: await ScalarAsync(db, "select count(*) from billing.mt_doc_issuedinvoice where data->>'pdfSha256' <> ''"),
                    Month: await ScalarAsync(db, $"select count(*) from billing.mt_doc_closedperiod where id = '{Month}'"),
                    State: await ClosingStateAsync(db)),
                r => r.Month == 1 && r.Due > 0 && r.WithPdf == r.Due, r => $"due {r.Due}, issued with PDFs {r.WithPdf}\n{r.State}");
            var invoices = await InvoicesAsync(db);
            Log($"the schedule closed {string.Join(", ", invoices.Select(i => i.Period).Distinct().Order())}: {invoices.Count} invoices");

            // One invoice per account and period, numbered without a gap from the year's first, every close the schedule's.
            var year = NodaTime.SystemClock.Instance.GetCurrentInstant().InUtc().Year;
            Assert.Equal(Enumerable.Range(1, invoices.Count).Select(n => $"INV-{year}-{n:D6}"), invoices.Select(i => i.Number).Order());
            Assert.Equal(invoices.Count, invoices.Select(i => (i.AccountId, i.Period)).Distinct().Count());
            Assert.Equal(Accounts, invoices.Count(i => i.Period == Month.ToString()));
            Assert.All(await ClosedByAsync(db), by => Assert.Equal("schedule", by));

            // Ready, with nothing waiting anywhere; the metrics agree with the store.
            foreach (var port in ports)
            {
                var ready = await WaitForAsync($"node on {port} ready with zero backlog", () => ReadyAsync(operatorHttp, port),
                    r => r.Status == HttpStatusCode.OK && Backlog(r.Body) == 0);
                Assert.Equal("Healthy", (string)ready.Body!["status"]!);
            }
            foreach (var port in ports) counted.AddRange(await MetricsAsync(operatorHttp, port));
            double Sum(string name, params (string, string)[] labels) => counted.Matching(name, labels).Sum(s => s.Value);
            Assert.Equal(lines.Count, Sum("billing_records_total", ("status", "accepted")));
            Assert.Equal(0, Sum("billing_records_total", ("status", "rejected")));
            Assert.Equal(invoices.Count, Sum("billing_invoices_issued_total"));
            Assert.Equal(0, Sum("billing_close_failures_total"));
            Log($"messages handed back by the stranded-message sweep: {Sum("billing_stranded_messages_released_total")} (by the nodes scraped)");

            // The close's spans reached the collector.
            await WaitForAsync("the close's spans at the receiver", () => Task.FromResult(
                receiver.Spans.Any(s => s.Scope == "Wolverine" && s.Name == typeof(ClosePeriod).FullName) &&
                receiver.Spans.Any(s => s.Scope == "Wolverine" && s.Name == typeof(IssueInvoices).FullName)));
        }
        finally
        {
            foreach (var node in _nodes) await node.DisposeAsync();
        }

        // The usage and the invoices equal those of one in-process import of the same records, closed the same periods.
        await using var reader = await BillingTestHost.StartAsync(db, s => s with { RabbitMqUri = amqp }, NodaTime.SystemClock.Instance.GetCurrentInstant());
        var usage = await reader.AllUsageJsonAsync(Month.ToString());
        var deployed = await InvoicesAsync(db);
        await using var once = await BillingTestHost.StartAsync(now: NodaTime.SystemClock.Instance.GetCurrentInstant());
        var single = await once.ImportAsync(lines);
        Assert.Equal((lines.Count, 0L, 0L), (single.Accepted, single.Duplicates, single.Rejected));
        var expected = await once.AllUsageJsonAsync(Month.ToString());
        Assert.Equal(Accounts, expected.Count);
        Assert.Equal(expected.Keys.Order(), usage.Keys.Order());
        foreach (var (account, json) in expected) Assert.Equal(json, usage[account]);
        foreach (var period in deployed.Select(i => i.Period).Distinct().Order())
            await CloseCommand.CloseAsync(once.Services, BillingPeriod.Parse(period), CancellationToken.None);
        var alone = await InvoicesAsync(once.Settings.ConnectionString);
        Assert.Equal(alone.Select(i => (i.AccountId, i.Period)).Order(), deployed.Select(i => (i.AccountId, i.Period)).Order());
        foreach (var invoice in deployed)
            Assert.Equal(alone.Single(i => (i.AccountId, i.Period) == (invoice.AccountId, invoice.Period)).Charged, invoice.Charged);
        Log($"usage and {deployed.Count} invoices equal a single import's");
    }

    /// <summary>An issued invoice as stored, with what it charged: its JSON without its number, issue time and event position, which differ between two stores.</summary>
    sealed record StoredInvoice(string Number, string AccountId, string Period, string Charged);

    static async Task<List<StoredInvoice>> InvoicesAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select data->>'number', data->>'accountId', data->>'period', data->>'json' from billing.mt_doc_issuedinvoice", connection);
        var invoices = new List<StoredInvoice>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var json = JsonNode.Parse(reader.GetString(3))!.AsObject();
            json.Remove("number");
            json.Remove("issuedAt");
            json["provenance"]?.AsObject().Remove("eventSequence");
            invoices.Add(new StoredInvoice(reader.GetString(0), reader.GetString(1), reader.GetString(2), json.ToJsonString()));
        }
        return invoices;
    }

    static async Task<List<string?>> ClosedByAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select data->>'closedBy' from billing.mt_doc_closedperiod", connection);
        var by = new List<string?>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) by.Add(reader.IsDBNull(0) ? null : reader.GetString(0));
        return by;
    }

    void Log(string line) => output.WriteLine($"{_watch.Elapsed.TotalSeconds,6:0.0} s  {line}");

    ChildProcess StartNode(string dll, string db, string amqp, OtlpReceiver receiver, int port, string graceHours)
    {
        var node = ChildProcess.Start(dll, db, new Dictionary<string, string>
        {
            ["BILLING_URLS"] = $"http://127.0.0.1:{port}",
            ["BILLING_RABBITMQ"] = amqp,
            ["BILLING_INGEST_PARTITIONS"] = $"{Partitions}",
            ["BILLING_CLOSE_GRACE_HOURS"] = graceHours,
            ["BILLING_CLOSE_TICK_SECONDS"] = "5",
            // Waiting records retry every 2 s for the default 10 minutes: a restart never makes one expire.
            ["BILLING_RETRY_WINDOW_MINUTES"] = "10",
            ["BILLING_RETRY_DELAY_SECONDS"] = "2",
            // A message a node stored but lost hold of when PostgreSQL or the broker went away is handed back after 30 s (default 300).
            ["BILLING_STRANDED_MESSAGE_SECONDS"] = "30",
            // Each node logs its Wolverine node id, by which the test finds the partitions it holds.
            ["Logging__LogLevel__Wolverine.Runtime.Agents.NodeAgentController"] = "Information",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        }, "serve");
        _nodes.Add(node);
        return node;
    }

    static readonly System.Text.RegularExpressions.Regex NodeIdLine = new(@"Starting agents for Node ([0-9a-f-]{36})");

    /// <summary>A serve process's Wolverine node id, from its log (Guid.Empty before it has started its agents).</summary>
    static Guid NodeIdOf(ChildProcess node) =>
        NodeIdLine.Match(node.StandardOutput + node.StandardError) is { Success: true } m ? Guid.Parse(m.Groups[1].Value) : Guid.Empty;

    /// <summary>The console logger's warning, error and critical entries, each with the line after its header.</summary>
    static string Problems(string log)
    {
        var lines = log.Split('\n');
        var picked = new List<string>();
        for (var i = 0; i < lines.Length && picked.Count < 120; i++)
            if (lines[i].StartsWith("warn:", StringComparison.Ordinal) || lines[i].StartsWith("fail:", StringComparison.Ordinal) || lines[i].StartsWith("crit:", StringComparison.Ordinal))
            {
                picked.Add(lines[i]);
                if (i + 1 < lines.Length) picked.Add(lines[i + 1]);
            }
        return string.Join("\n", picked);
    }

    static HttpClient Client(string key)
    {
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        return http;
    }

    static async Task<string> KeyAsync(string dll, string db, string role)
    {
        await using var keys = ChildProcess.Start(dll, db, "keys", "create", "--role", role, "--name", $"deployed-{role}");
        var exit = await keys.WaitForExitAsync(TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, $"keys create exited {exit}: {keys.StandardError}");
        return keys.StandardOutput.Trim();
    }

    /// <summary>
    /// Two thirds of the bodies on the broker, a third over HTTP, at once, paced so that a burst lasts
    /// some seconds and a restart lands while bodies are still coming; each producer sends a body
    /// again until it is taken.
    /// </summary>
    Task ProduceAsync(string amqp, HttpClient http, int[] ports, bool[] alive, IReadOnlyList<string> records)
    {
        var chunks = records.Chunk(100).ToList();
        for (var i = 0; i < chunks.Count; i++)
            foreach (var r in chunks[i]) _pathOf[System.Text.Json.JsonDocument.Parse(r).RootElement.GetProperty("id").GetString()!] = i % 3 != 0 ? "broker" : "http";
        return Task.WhenAll(
            PublishAsync(amqp, chunks.Where((_, i) => i % 3 != 0).ToList()),
            PostAsync(http, ports, alive, chunks.Where((_, i) => i % 3 == 0).ToList()));
    }

    /// <summary>Publishes with confirms; a body whose confirm never came (the broker went away) is published again on a new connection.</summary>
    async Task PublishAsync(string amqp, IReadOnlyList<string[]> chunks)
    {
        var next = 0;
        var deadline = Stopwatch.StartNew();
        while (next < chunks.Count)
        {
            try
            {
                var factory = new ConnectionFactory { Uri = new Uri(amqp), AutomaticRecoveryEnabled = false };
                await using var connection = await factory.CreateConnectionAsync("as-deployed-producer");
                await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
                for (; next < chunks.Count; next++)
                {
                    await channel.BasicPublishAsync("", "usage", mandatory: true,
                        new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent },
                        Encoding.UTF8.GetBytes($"[{string.Join(',', chunks[next])}]"));
                    await Task.Delay(Pace);
                }
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.AlreadyClosedException
                                          or RabbitMQ.Client.Exceptions.OperationInterruptedException or RabbitMQ.Client.Exceptions.PublishException
                                          or IOException or System.Net.Sockets.SocketException)
            {
                if (deadline.Elapsed > Bound) throw;
                await Task.Delay(500); // the broker is restarting: publish that body again once it answers
            }
        }
    }

    /// <summary>Posts each chunk to the next live node; a 503 (PostgreSQL away) or a dead node gets the chunk again after a moment.</summary>
    static async Task PostAsync(HttpClient http, int[] ports, bool[] alive, IReadOnlyList<string[]> chunks)
    {
        var next = 0;
        var deadline = Stopwatch.StartNew();
        foreach (var chunk in chunks)
        {
            var body = $"[{string.Join(',', chunk)}]";
            while (true)
            {
                var node = next++ % ports.Length;
                if (!alive[node]) continue;
                try
                {
                    using var response = await http.PostAsync($"http://127.0.0.1:{ports[node]}/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
                    if (response.IsSuccessStatusCode)
                    {
                        await Task.Delay(Pace);
                        break;
                    }
                    if (response.StatusCode != HttpStatusCode.ServiceUnavailable || deadline.Elapsed > Bound)
                        throw new InvalidOperationException($"node {node} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && deadline.Elapsed < Bound)
                {
                    // The node is away or slow: the same body again (its records decide as duplicates where they landed).
                }
                await Task.Delay(500);
            }
        }
    }

    /// <summary>Every record sent so far decided and nothing waiting: no retry scheduled, no partition queue with a backlog.</summary>
    async Task SettledAsync(string db, HttpClient http, int port, int sent, string what)
    {
        await WaitForAsync($"{what}: {sent:N0} records decided and nothing waiting",
            async () => (Decided: await DecidedAsync(db), Ready: await ReadyAsync(http, port), Parked: await ParkedAsync(db) + "\n" + await MissingAsync(db)),
            r => r.Decided >= sent && r.Ready.Status == HttpStatusCode.OK && Backlog(r.Ready.Body) == 0,
            r => $"decided {r.Decided:N0}; /health/ready {(int?)r.Ready.Status}: {r.Ready.Body?.ToJsonString()}\nparked: {r.Parked}");
        Log($"{what} settled: {await DecidedAsync(db):N0} decided");
    }

    /// <summary>What /health/ready says waits: records waiting for their retry, messages in the partition queues, parked messages.</summary>
    static long Backlog(JsonNode? ready)
    {
        var checks = ready?["checks"];
        long Figure(string check, string figure) => checks?[check]?[figure] is { } v ? (long)v : 0;
        return Figure("waiting", "records") + Figure("waiting", "messages") + Figure("queues", "total") + Figure("parked", "messages");
    }

    static async Task<(HttpStatusCode? Status, JsonNode? Body)> ReadyAsync(HttpClient http, int port)
    {
        try
        {
            using var response = await http.GetAsync($"http://127.0.0.1:{port}/health/ready");
            return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            return (null, null);
        }
    }

    /// <summary>One scrape of a node's /metrics.</summary>
    static async Task<IReadOnlyList<PrometheusSample>> MetricsAsync(HttpClient http, int port) =>
        Prometheus.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/metrics"));

    static async Task<Dictionary<string, Guid>> AssignmentsAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select a.id, a.node_id from billing.wolverine_node_assignments a join billing.wolverine_nodes n on n.id = a.node_id where a.id like '%usage_partition%'", connection);
        await using var reader = await cmd.ExecuteReaderAsync();
        var map = new Dictionary<string, Guid>();
        while (await reader.ReadAsync()) map[reader.GetString(0)] = reader.GetGuid(1);
        return map;
    }

    static Task<long> DecidedAsync(string db) =>
        ScalarAsync(db, "select (select count(*) from billing.record_ids) + (select count(*) from billing.mt_doc_deadletter)");

    /// <summary>Why Wolverine parked what it parked: each message's type and exception, for a failure's message.</summary>
    static async Task<string> ParkedAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            select 'parked ' || message_type || ': ' || coalesce(exception_type, '') || ': ' || coalesce(exception_message, '') from billing.wolverine_dead_letters
            union all select 'incoming ' || status || ' ' || message_type || ' owner ' || owner_id || ': ' || count(*) from billing.wolverine_incoming_envelopes group by status, message_type, owner_id
            union all select 'outgoing ' || destination || ' owner ' || owner_id || ': ' || count(*) from billing.wolverine_outgoing_envelopes group by destination, owner_id
            union all select 'node ' || id || ' ' || coalesce(uri, '') from billing.wolverine_nodes
            """, connection);
        var parked = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) parked.Add(reader.GetString(0));
        return parked.Count == 0 ? "none" : string.Join("\n", parked);
    }

    /// <summary>The records sent that are neither accepted nor refused, by the path they took.</summary>
    async Task<string> MissingAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select id from billing.record_ids union all select data->>'recordId' from billing.mt_doc_deadletter", connection);
        var decided = new HashSet<string>();
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync()) if (!reader.IsDBNull(0)) decided.Add(reader.GetString(0));
        var missing = _pathOf.Where(kv => !decided.Contains(kv.Key)).ToList();
        return $"missing {missing.Count}: " + string.Join(", ", missing.GroupBy(m => m.Value).Select(g => $"{g.Key} {g.Count()} (e.g. {string.Join(" ", g.Take(3).Select(m => m.Key))})"));
    }

    /// <summary>What the store says of closing: the close records, the failures, the invoices, what Wolverine holds.</summary>
    static async Task<string> ClosingStateAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            select 'closed ' || data::text from billing.mt_doc_closedperiod
            union all select 'failure ' || data::text from billing.mt_doc_closefailure
            union all select 'invoice ' || (data->>'number') || ' ' || (data->>'period') || ' pdf ' || coalesce(data->>'hasPdf', '?') from billing.mt_doc_issuedinvoice
            union all select 'parked ' || message_type || ': ' || coalesce(exception_type, '') || ': ' || left(coalesce(exception_message, ''), 300) from billing.wolverine_dead_letters
            union all select 'incoming ' || status || ' ' || message_type || ': ' || count(*) from billing.wolverine_incoming_envelopes where status <> 'Handled' group by status, message_type
            union all select 'outgoing ' || destination || ': ' || count(*) from billing.wolverine_outgoing_envelopes group by destination
            union all select 'assignment ' || id || ' -> ' || node_id from billing.wolverine_node_assignments
            """, connection);
        var lines = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) lines.Add(reader.GetString(0));
        return string.Join("\n", lines);
    }

    static Task<long> ScalarAsync(string db, string sql) => DuplicatePublishTests.ScalarAsync(db, sql);

    Task WaitForAsync(string what, Func<Task<bool>> condition) => WaitForAsync(what, condition, holds => holds);

    /// <summary>Polls every 250 ms up to <see cref="Bound"/>, PostgreSQL being away meanwhile counting as not yet; fails with the last value read and the nodes' logs.</summary>
    async Task<T> WaitForAsync<T>(string what, Func<Task<T>> read, Func<T, bool> holds, Func<T, string>? describe = null)
    {
        var (_, value) = await Eventually.UntilAsync(async () =>
            {
                try
                {
                    return (true, await read());
                }
                catch (Exception e) when (e is NpgsqlException or HttpRequestException or TaskCanceledException)
                {
                    return (false, default(T)!); // the nodes have not created their tables yet, or the database is restarting
                }
            },
            r => r.Item1 && holds(r.Item2), Bound, what, TimeSpan.FromMilliseconds(250),
            r => (r.Item1 && describe is not null ? describe(r.Item2) + "\n" : "") +
                 string.Join("\n", _nodes.Select((n, i) => $"process {i} (pid {n.Id}{(n.HasExited ? ", exited" : "")}) stderr (tail):\n{ChildProcess.Tail(n.StandardError, 15)}\nits warnings and errors (the first 60):\n{Problems(n.StandardOutput)}")));
        return value;
    }
}
