using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using NodaTime;
using Npgsql;
using RabbitMQ.Client;
using Xunit.Abstractions;

namespace Billing.Tests.Spend;

/// <summary>
/// Budget alerts on real `billing serve` processes, one database and one broker: a budget at 80% of an
/// account's month fires once when the crossing record is posted over HTTP, another once when it is
/// published on the broker, each within 5 s of the crossing record's commit (the alert's stored instants
/// against the record's event in the store); neither fires again after the records are sent again,
/// after a projection replay and restart, nor when a second node joins and one is killed with SIGKILL
/// while a third threshold is crossed, which fires once too. A third account's budget of ten thresholds
/// is the sentinel: the evaluator reads one message at a time in queue order, so once a record sent
/// after the others has raised its alert, everything sent before it has been read.
/// A webhook endpoint for X's events, made by `billing webhooks create`, receives each of X's alerts
/// as a signed `budget.threshold_crossed`, and nothing of Y's or Z's.
/// The children read the machine's clock: the month is the current one, every record dated in it.
/// </summary>
public sealed class BudgetAlertsServeTests(ITestOutputHelper output)
{
    const long GiB = 1L << 30;
    const string X = "510000000001"; // alerts from HTTP
    const string Y = "520000000002"; // alerts from the broker
    const string Z = "530000000003"; // the sentinel
    const string EX = "vpce-0a000000000000001", EY = "vpce-0a000000000000002", EZ = "vpce-0a000000000000003";
    static readonly TimeSpan Bound = TimeSpan.FromMinutes(3);
    static readonly Duration Within = Duration.FromSeconds(5);

    readonly string _dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");

    [Fact(Timeout = 900_000)]
    public async Task Each_alert_fires_once_within_5_s_over_HTTP_and_the_broker_and_never_again_after_duplicates_a_replay_or_a_killed_node()
    {
        var watch = Stopwatch.StartNew();
        var now = SystemClock.Instance.GetCurrentInstant();
        var period = BillingPeriod.Of(now);
        // Endpoints created a minute ago (at the latest the month's start), traffic dated 30 s after: a few cents of
        // endpoint-hours whatever the date, and every record inside this month even if the test runs into the next.
        var created = now - Duration.FromMinutes(1) < period.Start ? period.Start : now - Duration.FromMinutes(1);
        var at = RecordParser.Format(created + Duration.FromSeconds(30));
        string Traffic(string id, string endpoint, long gib) => Records.Traffic(id, at, endpoint, "use1-az1", null, gib * GiB);
        var sentinels = 0;
        string Sentinel() => Traffic($"z-{++sentinels}", EZ, 100); // $1.00 more each: one more 10% of Z's $10.00

        var db = await PostgresServer.CreateDatabaseAsync("billing_budgets");
        var amqp = await RabbitMqBroker.CreateVirtualHostAsync("budgets");
        var token = (await RunAsync(db, "keys", "create", "--role", "operator", "--name", "budgets")).Trim();
        await using var receiver = await Billing.Tests.Webhooks.WebhookReceiver.StartAsync();
        var hook = (await RunAsync(db, "webhooks", "create", "--url", receiver.Url("/x"), "--account", X, "--events", "budget.threshold_crossed")).Trim().Split(' ');
        Assert.Equal(2, hook.Length);
        var nodes = new List<ChildProcess>();
        var ports = new List<int>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        try
        {
            await StartNodeAsync();

            // Two budgets from the CLI (each prints its id alone), the sentinel's over HTTP.
            var budgetX = Guid.Parse((await RunAsync(db, "budgets", "create", "--account", X, "--amount", "100.00", "--thresholds", "80,100", "--name", "over http")).Trim());
            var budgetY = Guid.Parse((await RunAsync(db, "budgets", "create", "--account", Y, "--amount", "100.00", "--thresholds", "80", "--name", "over the broker")).Trim());
            using (var response = await http.PostAsync($"{Url(0)}/api/budgets", Body($$"""{"accountId":"{{Z}}","amount":"10.00","thresholds":[10,20,30,40,50,60,70,80,90,100]}""")))
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);

            await PostAsync(0, [
                Records.Opened("o-x", RecordParser.Format(period.Start - Duration.FromDays(1)), X),
                Records.Opened("o-y", RecordParser.Format(period.Start - Duration.FromDays(1)), Y),
                Records.Opened("o-z", RecordParser.Format(period.Start - Duration.FromDays(1)), Z),
                Records.Created("c-x", RecordParser.Format(created), EX, X, "us-east-1", "Interface", "use1-az1"),
                Records.Created("c-y", RecordParser.Format(created), EY, Y, "us-east-1", "Interface", "use1-az1"),
                Records.Created("c-z", RecordParser.Format(created), EZ, Z, "us-east-1", "Interface", "use1-az1"),
            ]);

            // Over HTTP: 7,000 GB ($70) raise nothing, as the sentinel read after them shows; 1,000 GB more cross 80%.
            await PostAsync(0, [Traffic("x-pre", EX, 7000)]);
            await PostAsync(0, [Sentinel()]);
            await UntilAlertsAsync(Z, sentinels);
            Assert.Empty(await AlertsOfAsync(X));
            await PostAsync(0, [Traffic("x-cross", EX, 1000)]);
            var alertX = Assert.Single(await UntilAlertsAsync(X, 1));
            Assert.Equal((period.ToString(), 80, "actual", "100.00"), (alertX.Period, alertX.Threshold, alertX.Basis, alertX.Amount));
            Assert.StartsWith("80.0", alertX.Cost);
            await AssertPromptAsync(X, alertX, "x-cross", "x-pre");

            // Over the broker: the same in two messages for Y.
            await PublishAsync(amqp, [Traffic("y-pre", EY, 7000)]);
            await PublishAsync(amqp, [Traffic("y-cross", EY, 1000)]);
            var alertY = Assert.Single(await UntilAlertsAsync(Y, 1));
            Assert.Equal((period.ToString(), 80, "actual", "100.00"), (alertY.Period, alertY.Threshold, alertY.Basis, alertY.Amount));
            await AssertPromptAsync(Y, alertY, "y-cross", "y-pre");
            output.WriteLine($"alerts after {watch.Elapsed.TotalSeconds:0.0} s: X {alertX.Cost} at {alertX.CrossedAt}, Y {alertY.Cost} at {alertY.CrossedAt}");

            // Duplicates, over both: acknowledged and ignored, so nothing can be crossed again.
            var again = await PostAsync(0, [Traffic("x-pre", EX, 7000), Traffic("x-cross", EX, 1000)]);
            Assert.Equal(2, (int)again["duplicates"]!);
            await PublishAsync(amqp, [Traffic("y-pre", EY, 7000), Traffic("y-cross", EY, 1000)]);
            await PublishAsync(amqp, [Sentinel()]);
            await UntilAlertsAsync(Z, sentinels);
            await AssertOnceAsync(1, 1);

            // A replay of every projection with the service stopped, then a new process: it reads every budget afresh.
            Assert.Equal(0, await nodes[0].StopAsync(TimeSpan.FromMinutes(1)));
            await RunAsync(db, "replay");
            await StartNodeAsync();
            await PostAsync(1, [Sentinel()]);
            await UntilAlertsAsync(Z, sentinels);
            await AssertOnceAsync(1, 1);
            output.WriteLine($"after the replay and restart, {watch.Elapsed.TotalSeconds:0.0} s");

            // A second node joins; X's last 2,000 GB ($20: past 100%) stream in over both nodes' HTTP, and the node
            // that evaluates budgets (by its own log) is killed part-way.
            await StartNodeAsync();
            var alive = new[] { false, true, true };
            var chunks = Enumerable.Range(1, 20).Select(i => new[] { Traffic($"x-s{i}a", EX, 50), Traffic($"x-s{i}b", EX, 50) }).ToList();
            for (var i = 0; i < chunks.Count; i++)
            {
                if (i == 8)
                {
                    var evaluator = await Eventually.UntilAsync(() => Task.FromResult(EvaluatorOf(nodes, alive)), n => n is not null, Bound, "a node listening to the budget queue");
                    nodes[evaluator!.Value].KillNow();
                    alive[evaluator.Value] = false;
                    output.WriteLine($"killed node {evaluator}, the evaluator, after {i} of {chunks.Count} posts, {watch.Elapsed.TotalSeconds:0.0} s");
                }
                await PostToAnyAsync(alive, i, chunks[i]);
            }
            var alertsOfX = await UntilAlertsAsync(X, 2);
            Assert.Equal([80, 100], alertsOfX.Select(a => a.Threshold));
            Assert.StartsWith("100.0", alertsOfX[1].Cost);
            await PostAsync(Array.IndexOf(alive, true), [Sentinel()]);
            await UntilAlertsAsync(Z, sentinels);
            await AssertOnceAsync(2, 1);
            Assert.Equal(2 + 1 + sentinels, await ScalarAsync(db, "select count(*) from billing.mt_streams where id like 'budget-alert/%'"));
            Assert.Equal(2 + 1 + sentinels, await ScalarAsync(db, "select count(*) from billing.mt_events where type = 'budget_alert_raised'"));
            Assert.Equal(new[] { budgetX, budgetY }.Order(), (await BudgetsAsync()).Where(b => (string)b["accountId"]! != Z).Select(b => Guid.Parse((string)b["id"]!)).Order());

            // X's two alerts reached its endpoint signed, each under one webhook-id (delivery is at least once: a
            // node killed mid-attempt may send one again under the same id); Y's and Z's did not.
            var delivered = await Eventually.UntilAsync(() => Task.FromResult(receiver.All), r => r.Select(d => d.Id).Distinct().Count() >= 2, Bound,
                "X's two alerts at its webhook endpoint", describe: r => string.Join("\n", r.Select(d => $"{d.Path} {d.Id} {d.Text}")));
            Assert.All(delivered, d => Assert.Equal(("/x", "budget.threshold_crossed", X), (d.Path, d.Type, d.Data.GetProperty("accountId").GetString())));
            Assert.Equal([80, 100], delivered.GroupBy(d => d.Id).Select(g => g.First().Data.GetProperty("threshold").GetInt32()).Order());
            Assert.All(await Billing.Tests.Webhooks.IndependentSignature.CheckAsync(delivered.Select(d => (hook[1], d))), r => Assert.Equal("ok", r));
            output.WriteLine($"{2 + 1 + sentinels} alerts, each once; {watch.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }

        string Url(int node) => $"http://127.0.0.1:{ports[node]}";

        async Task StartNodeAsync()
        {
            var port = Ports.Free();
            ports.Add(port);
            nodes.Add(ChildProcess.Start(_dll, db, new Dictionary<string, string>
            {
                ["BILLING_URLS"] = $"http://127.0.0.1:{port}",
                ["BILLING_RABBITMQ"] = amqp,
                ["BILLING_WEBHOOK_ALLOW_PRIVATE"] = "1",
                ["Logging__LogLevel__Wolverine.Transports.ListeningAgent"] = "Information",
            }, "serve"));
            var node = nodes[^1];
            await Eventually.UntilAsync(async () => (await TryGetAsync($"http://127.0.0.1:{port}/api/budgets")) == HttpStatusCode.OK, Bound, $"node on port {port} answering",
                TimeSpan.FromMilliseconds(200), () => $"stderr:\n{ChildProcess.Tail(node.StandardError)}");
        }

        async Task<HttpStatusCode?> TryGetAsync(string url)
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

        async Task<JsonNode> PostAsync(int node, string[] records)
        {
            using var response = await http.PostAsync($"{Url(node)}/api/usage/events", Body($"[{string.Join(',', records)}]"));
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.True(response.IsSuccessStatusCode && (int)body["rejected"]! == 0 && (int)body["pending"]! == 0, body.ToJsonString());
            return body;
        }

        // As a producer behind a load balancer: the next live node; a node dying mid-request gets the post again elsewhere (duplicates where it landed).
        async Task PostToAnyAsync(bool[] up, int first, string[] records)
        {
            for (var attempt = 0; ; attempt++)
            {
                var node = (first + attempt) % up.Length;
                if (!up[node]) continue;
                try
                {
                    await PostAsync(node, records);
                    return;
                }
                catch (HttpRequestException) when (attempt < 10)
                {
                }
            }
        }

        async Task<List<Alert>> AlertsOfAsync(string account) =>
            (await BudgetsAsync()).Where(b => (string)b["accountId"]! == account).SelectMany(b => b["alerts"]!.AsArray()).Select(a => Alert.Of(a!)).ToList();

        async Task<List<JsonNode>> BudgetsAsync()
        {
            var node = Enumerable.Range(0, nodes.Count).Last(i => !nodes[i].HasExited);
            return JsonNode.Parse(await http.GetStringAsync($"{Url(node)}/api/budgets"))!.AsArray().Select(b => b!).ToList();
        }

        Task<List<Alert>> UntilAlertsAsync(string account, int count) =>
            Eventually.UntilAsync(() => AlertsOfAsync(account), a => a.Count >= count, Bound, $"{count} alerts of account {account}", TimeSpan.FromMilliseconds(100),
                a => $"{a.Count} so far; last node's stderr:\n{ChildProcess.Tail(nodes.Last(n => !n.HasExited).StandardError)}");

        // The alert decided within 5 s of the commit of the later of the two records, and stored as promptly.
        async Task AssertPromptAsync(string account, Alert alert, params string[] records)
        {
            var committed = Instant.MinValue;
            foreach (var id in records) committed = Instant.Max(committed, await CommittedAsync(db, id));
            var stored = await StoredAsync(db, account, alert.Threshold);
            output.WriteLine($"{records[0]}: committed {committed}, alert decided {alert.CrossedAt} (+{(alert.CrossedAt - committed).TotalMilliseconds:0} ms), stored {stored} (+{(stored - committed).TotalMilliseconds:0} ms)");
            Assert.True(alert.CrossedAt - committed <= Within, $"decided {alert.CrossedAt - committed} after the record's commit");
            Assert.True(stored - committed <= Within, $"stored {stored - committed} after the record's commit");
            Assert.True(alert.TriggeredAt >= committed - Duration.FromSeconds(1), $"triggered at {alert.TriggeredAt}, the record committed {committed}");
        }

        async Task AssertOnceAsync(int alertsOfX, int alertsOfY)
        {
            Assert.Equal(alertsOfX, (await AlertsOfAsync(X)).Count);
            Assert.Equal(alertsOfY, (await AlertsOfAsync(Y)).Count);
            var ofZ = await AlertsOfAsync(Z);
            Assert.Equal(Enumerable.Range(1, sentinels).Select(k => k * 10), ofZ.Select(a => a.Threshold).Order());
        }
    }

    static readonly System.Text.RegularExpressions.Regex Listening = new(@"(Started message listening at|Stopped message listener at) \S*budget_evaluations");

    /// <summary>The live node whose log says it listens to the budget queue now (its last word on it is "Started").</summary>
    static int? EvaluatorOf(IReadOnlyList<ChildProcess> nodes, bool[] alive)
    {
        for (var i = 0; i < nodes.Count; i++)
            if (alive[i] && Listening.Matches(nodes[i].StandardOutput) is { Count: > 0 } said && said[^1].Groups[1].Value.StartsWith("Started", StringComparison.Ordinal))
                return i;
        return null;
    }

    sealed record Alert(string Period, int Threshold, string Basis, string Amount, string Cost, Instant CrossedAt, Instant TriggeredAt)
    {
        public static Alert Of(JsonNode a) => new((string)a["period"]!, (int)a["threshold"]!, (string)a["basis"]!, (string)a["amount"]!, (string)a["cost"]!,
            NodaTime.Text.InstantPattern.ExtendedIso.Parse((string)a["crossedAt"]!).Value, NodaTime.Text.InstantPattern.ExtendedIso.Parse((string)a["triggeredAt"]!).Value);
    }

    static StringContent Body(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>`billing VERB ...` as a child on the database; its stdout, once it exits 0.</summary>
    async Task<string> RunAsync(string db, params string[] args)
    {
        // The test's webhook receiver listens on loopback, which the SSRF rules refuse unless allowed.
        await using var child = ChildProcess.Start(_dll, db, new Dictionary<string, string> { ["BILLING_WEBHOOK_ALLOW_PRIVATE"] = "1" }, args);
        var exit = await child.WaitForExitAsync(TimeSpan.FromMinutes(3));
        Assert.True(exit == 0, $"billing {string.Join(' ', args)} exited {exit}: {child.StandardError}");
        return child.StandardOutput;
    }

    static async Task PublishAsync(string amqpUri, string[] records)
    {
        var factory = new ConnectionFactory { Uri = new Uri(amqpUri) };
        await using var connection = await factory.CreateConnectionAsync("test-budgets-producer");
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.BasicPublishAsync("", "usage", mandatory: true, new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent },
            Encoding.UTF8.GetBytes($"[{string.Join(',', records)}]"));
    }

    /// <summary>When the traffic event carrying the record was written (its transaction's start, so at or before its commit).</summary>
    static async Task<Instant> CommittedAsync(string db, string recordId)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select timestamp from billing.mt_events where type = 'traffic_recorded' and data -> 'ids' ? @id", connection);
        cmd.Parameters.AddWithValue("id", recordId);
        return Instant.FromDateTimeUtc(DateTime.SpecifyKind((DateTime)(await cmd.ExecuteScalarAsync() ?? throw new InvalidOperationException($"no traffic event holds {recordId}")), DateTimeKind.Utc));
    }

    /// <summary>When the alert's event was written: its transaction, which starts when the evaluation writes, just before its commit.</summary>
    static async Task<Instant> StoredAsync(string db, string account, int threshold)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select timestamp from billing.mt_events where type = 'budget_alert_raised' and data ->> 'accountId' = @a and (data ->> 'threshold')::int = @t", connection);
        cmd.Parameters.AddWithValue("a", account);
        cmd.Parameters.AddWithValue("t", threshold);
        return Instant.FromDateTimeUtc(DateTime.SpecifyKind((DateTime)(await cmd.ExecuteScalarAsync())!, DateTimeKind.Utc));
    }

    static Task<long> ScalarAsync(string db, string sql) => DuplicatePublishTests.ScalarAsync(db, sql);
}
