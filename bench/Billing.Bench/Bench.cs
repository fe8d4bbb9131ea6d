using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Host;
using Billing.Host.Features;
using Billing.Metering;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using Npgsql;
using NpgsqlTypes;
using Spectre.Console.Cli;

namespace Billing.Bench;

/// <summary>
/// `billing bench [--records N] [--accounts K] [--phases LIST] [--bus B] [--partitions P] [--nodes N] [--json FILE]` (this project,
/// bench/Billing.Bench, run by the `billing` script; not part of the production host): a deterministic synthetic workload on a
/// database of its own (billing_bench or BILLING_BENCH_DB, recreated), measured phase by phase in one run so machine
/// noise cancels out in the ratio:
/// raw (the same N records as rows by plain batched INSERTs into a scratch table with a primary key
/// and a unique index: PostgreSQL's own limit), ingest (N records through the bus until decided,
/// appended and projected), replay (every projection rebuilt), close (K accounts: invoices and PDFs).
/// With --nodes N, N-1 more `billing serve` processes join the benchmark's database (and broker), and
/// the ingest partitions (--partitions P, default BILLING_INGEST_PARTITIONS) are spread over all N.
/// A benchmark reports; nothing here asserts on speed.
/// </summary>
public static class Bench
{
    const int RawClients = 4;
    const int RawRowsPerInsert = 100;

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--records <N>"), Description("synthetic records (at most a month of the accounts' usage)"), DefaultValue(1_000_000), Positive]
        public int Records { get; init; } = 1_000_000;

        [CommandOption("--accounts <K>"), Description("synthetic accounts, all closed by the close phase"), DefaultValue(1_000), Positive]
        public int Accounts { get; init; } = 1_000;

        [CommandOption("--phases <LIST>"), Description("which of raw, ingest, replay, close to measure (ingest always runs: replay and close work on what it stored)"), DefaultValue("raw,ingest,replay,close")]
        public string Phases { get; init; } = "raw,ingest,replay,close";

        [CommandOption("--bus <BUS>"), Description("postgresql, or rabbitmq (the broker of BILLING_RABBITMQ)"), DefaultValue("postgresql")]
        public string Bus { get; init; } = "postgresql";

        [CommandOption("--partitions <P>"), Description("ingest partitions; default BILLING_INGEST_PARTITIONS"), Positive]
        public int? Partitions { get; init; }

        [CommandOption("--nodes <N>"), Description("N-1 more `billing serve` processes join the benchmark's database and share the partitions"), DefaultValue(1), Positive]
        public int Nodes { get; init; } = 1;

        [CommandOption("--budgets <N>"), Description("ingest again, on a second fresh database, with N budgets (50, 80 and 100% of each account's month) defined: the ingest/raw ratio with and without them, and the alerts' latency p50/p99"), DefaultValue(0)]
        public int Budgets { get; init; }

        [CommandOption("--json <FILE>"), Description("also write the results as JSON to FILE")]
        public string? Json { get; init; }
    }

    /// <summary>`billing bench`'s only command: the options are its settings.</summary>
    public sealed class Command : AsyncCommand<Settings>
    {
        protected override Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken) => RunAsync(settings);
    }

    public static async Task<int> RunAsync(Settings cli)
    {
        var records = cli.Records;
        var accounts = cli.Accounts;
        var phases = cli.Phases.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var bus = cli.Bus;
        var settings = bus switch
        {
            "postgresql" => BillingSettings.FromEnvironment() with { RabbitMqUri = null },
            "rabbitmq" => BillingSettings.FromEnvironment() is { RabbitMqUri: not null } s ? s
                : throw new CliException("--bus rabbitmq publishes to the broker of BILLING_RABBITMQ: set it, e.g. BILLING_RABBITMQ=\"$(scripts/broker.sh url)\""),
            _ => throw new CliException($"--bus '{bus}' is not one of postgresql, rabbitmq"),
        };
        settings = settings with { IngestPartitions = cli.Partitions ?? settings.IngestPartitions };
        var nodes = cli.Nodes;
        if (nodes < 1) throw new CliException("--nodes must be at least 1");
        var period = new BillingPeriod(2026, 10);
        var now = Instant.FromUtc(2026, 11, 2, 0, 0); // the workload's clock: October is closable
        var server = new NpgsqlConnectionStringBuilder(settings.ConnectionString);
        // BILLING_BENCH_DB lets two checkouts benchmark on one server without dropping each other's database.
        var benchName = Environment.GetEnvironmentVariable("BILLING_BENCH_DB") is { Length: > 0 } name ? name : "billing_bench";
        var benchDb = new NpgsqlConnectionStringBuilder(settings.ConnectionString) { Database = benchName }.ConnectionString;
        await RecreateAsync(server, benchName);

        var memory = new MemoryWatch();
        var file = Path.Combine("out", "bench", $"bench-{records}-{accounts}.jsonl");
        Console.Error.WriteLine($"bench: writing {records:N0} synthetic records for {accounts:N0} accounts to {file}");
        var lines = Generate(period, accounts, records, file);

        if (lines < records) Console.Error.WriteLine($"bench: a month of synthetic usage for {accounts:N0} accounts holds {lines:N0} records; measuring those");
        var results = new JsonObject
        {
            ["records"] = lines, ["accounts"] = accounts, ["bus"] = bus, ["partitions"] = settings.IngestPartitions, ["nodes"] = nodes,
            ["machine"] = $"{Environment.ProcessorCount} cores",
        };

        // PostgreSQL's own rate moves by a third from one run to the next on this machine: the baseline
        // is taken three times (before ingest, between the phases, last) and the ratios use its median.
        var rawRuns = new List<TimeSpan>();
        async Task RawAsync(string when)
        {
            if (!phases.Contains("raw")) return;
            memory.Start("raw");
            var elapsed = await RawInsertAsync(benchDb, file, lines);
            var run = Phase(lines, elapsed, memory.Stop(), memory.CpuSeconds);
            run["when"] = when;
            rawRuns.Add(elapsed);
            ((JsonArray)(results["rawRuns"] ??= new JsonArray())).Add(run);
        }
        await RawAsync("before ingest");

        var clock = new StartedClock(now);
        Microsoft.AspNetCore.Builder.WebApplication host = null!;
        var others = new List<Process>();
        async Task StartAsync(string db)
        {
            host = Cli.BuildWebApp([], settings with { ConnectionString = db, Urls = "http://127.0.0.1:0" }, clock);
            await host.StartAsync();
            if (nodes > 1)
            {
                others.AddRange(Enumerable.Range(1, nodes - 1).Select(_ => StartNode(settings, db, now)));
                await WaitForPartitionsAsync(db, settings.IngestPartitions, Math.Min(nodes, settings.IngestPartitions), others);
            }
            memory.Watch(others);
        }
        async Task StopAsync()
        {
            foreach (var node in others)
            {
                if (!node.HasExited) node.Kill(entireProcessTree: true);
                await node.WaitForExitAsync();
            }
            others.Clear();
            await host.StopAsync();
        }
        await StartAsync(benchDb);
        try
        {
            memory.Start("ingest");
            var import = await ImportUsage.ImportAsync(host.Services, file, ImportUsage.BatchSize, CancellationToken.None);
            results["ingest"] = Phase(lines, import.Elapsed, memory.Stop(), memory.CpuSeconds);
            results["ingest"]!["accepted"] = import.Accepted;
            results["ingest"]!["rejected"] = import.Rejected;
            await RawAsync("after ingest");

            if (cli.Budgets > 0)
            {
                // The month's cost of every account as its close computes it: the budgets' amounts. Then the same
                // records again, warm, on a fresh database without budgets and on another with them, one after
                // the other: the two ratios of one run, the first ingest having warmed the process for both.
                var costs = await MonthCostsAsync(host.Services, period);
                foreach (var count in new[] { 0, cli.Budgets })
                {
                    var budgetsDb = new NpgsqlConnectionStringBuilder(settings.ConnectionString) { Database = $"{benchName}_budgets{count}" }.ConnectionString;
                    await StopAsync();
                    await RecreateAsync(server, $"{benchName}_budgets{count}");
                    // The pools of a dropped database hold dead connections.
                    NpgsqlConnection.ClearAllPools();
                    await StartAsync(budgetsDb);
                    var (defined, due) = count == 0 ? (0, 0) : await DefineBudgetsAsync(host.Services, costs, count);
                    var phase = $"ingestWith{count}Budgets";
                    memory.Start(phase);
                    var again = await ImportUsage.ImportAsync(host.Services, file, ImportUsage.BatchSize, CancellationToken.None);
                    results[phase] = Phase(lines, again.Elapsed, memory.Stop(), memory.CpuSeconds);
                    results[phase]!["budgets"] = defined;
                    if (count > 0) results["alerts"] = await AlertLatencyAsync(host.Services, period, due);
                }
            }

            if (phases.Contains("replay"))
            {
            memory.Start("replay");
            var timer = Stopwatch.StartNew();
            await ReplayProjections.ReplayAsync(host.Services.GetRequiredService<IDocumentStore>(), benchDb, CancellationToken.None);
            results["replay"] = Phase(lines, timer.Elapsed, memory.Stop(), memory.CpuSeconds);
            }

            if (phases.Contains("close"))
            {
            memory.Start("close");
            var timer = Stopwatch.StartNew();
            var invoices = await CloseCommand.CloseAsync(host.Services, period, CancellationToken.None);
            var close = timer.Elapsed;
            results["close"] = new JsonObject
            {
                ["accounts"] = accounts, ["invoices"] = invoices.Count, ["seconds"] = Math.Round(close.TotalSeconds, 1),
                ["invoicesPerSecond"] = Math.Round(invoices.Count / close.TotalSeconds, 1), ["peakWorkingSetMb"] = memory.Stop(),
                ["processCpuSeconds"] = memory.CpuSeconds,
            };
            }
        }
        finally
        {
            await StopAsync();
        }
        await RawAsync("last");
        if (rawRuns.Count > 0)
        {
            var median = rawRuns.Order().ElementAt(rawRuns.Count / 2);
            results["raw"] = new JsonObject { ["seconds"] = Math.Round(median.TotalSeconds, 1), ["recordsPerSecond"] = Math.Round(lines / median.TotalSeconds), ["of"] = "the median of rawRuns" };
            foreach (var phase in new[] { "ingest", "replay" })
                if (results[phase]?["seconds"] is { } seconds)
                    results[$"{phase}ToRawRatio"] = Math.Round(median.TotalSeconds / (double)seconds, 3);
            // The ingests again without and with budgets, against the same median.
            foreach (var (_, again) in results.Where(r => r.Key.StartsWith("ingestWith", StringComparison.Ordinal)).ToList())
                again!["ingestToRawRatio"] = Math.Round(median.TotalSeconds / (double)again["seconds"]!, 3);
        }
        results["peakWorkingSetMb"] = memory.PeakMb;
        if (nodes > 1) results["peakWorkingSetMbPerNode"] = memory.PeakNodeMb;

        Console.WriteLine();
        Console.WriteLine($"bench: {lines:N0} records, {accounts:N0} accounts, bus {bus}, {settings.IngestPartitions} partitions, {nodes} node(s), {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"phase",-8}{"seconds",10}{"records/s",14}{"peak MB",10}{"cpu s",8}");
        foreach (var run in results["rawRuns"]?.AsArray() ?? [])
            Console.WriteLine($"{"raw",-8}{(double)run!["seconds"]!,10:0.0}{(double)run["recordsPerSecond"]!,14:N0}{(double)run["peakWorkingSetMb"]!,10:N0}{(double)run["processCpuSeconds"]!,8:0.0}  ({run["when"]})");
        foreach (var phase in new[] { "ingest", "replay" }.Where(p => results[p] is not null))
            Console.WriteLine($"{phase,-8}{(double)results[phase]!["seconds"]!,10:0.0}{(double)results[phase]!["recordsPerSecond"]!,14:N0}{(double)results[phase]!["peakWorkingSetMb"]!,10:N0}{(double)results[phase]!["processCpuSeconds"]!,8:0.0}");
        if (results["close"] is not null) Console.WriteLine($"{"close",-8}{(double)results["close"]!["seconds"]!,10:0.0}{$"{results["close"]!["invoices"]} invoices",14}{(double)results["close"]!["peakWorkingSetMb"]!,10:N0}{(double)results["close"]!["processCpuSeconds"]!,8:0.0}");
        foreach (var phase in new[] { "ingest", "replay" }.Where(p => results[$"{p}ToRawRatio"] is not null))
            Console.WriteLine($"{phase}/raw ratio: {(double)results[$"{phase}ToRawRatio"]!:0.000} (raw: the median of {rawRuns.Count} runs, {(double)results["raw"]!["recordsPerSecond"]!:N0} records/s)");
        foreach (var (_, value) in results.Where(r => r.Key.StartsWith("ingestWith", StringComparison.Ordinal)).ToList())
            Console.WriteLine($"ingest again with {value!["budgets"]} budgets: {(double)value["recordsPerSecond"]!:N0} records/s in {(double)value["seconds"]!:0.0} s" +
                              (value["ingestToRawRatio"] is { } r ? $", ingest/raw ratio {(double)r:0.000}" : ""));
        if (results["alerts"] is { } al)
            Console.WriteLine($"alerts: {al["raised"]} of {al["expected"]} due in the month raised ({al["raisedInOtherPeriods"]} in the next); latency (decided after the crossing batch began deciding) p50 {al["p50Ms"]} ms, p99 {al["p99Ms"]} ms, max {al["maxMs"]} ms; last alert {al["settledSecondsAfterIngest"]} s after the ingest ended");
        if (nodes > 1) Console.WriteLine($"peak MB of the busiest node: {memory.PeakNodeMb:N0} (cpu s counts this process only)");
        if (cli.Json is { } json)
        {
            await File.WriteAllTextAsync(json, results.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {json}");
        }
        return 0;
    }

    /// <summary>Each account's total (tax included) for the period, priced as its close prices it.</summary>
    static async Task<Dictionary<string, decimal>> MonthCostsAsync(IServiceProvider services, BillingPeriod period)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        await store.WaitForProjectionsAsync(TimeSpan.FromMinutes(10));
        await using var session = store.QuerySession();
        var usage = await UsageQueries.ForPeriodAsync(session, period, services.GetRequiredService<BillingSettings>().LateWindow);
        var profiles = (await session.LoadManyAsync<Billing.Metering.Accounts.AccountProfile>(usage.Keys)).ToDictionary(p => p.Id);
        var book = services.GetRequiredService<Billing.Invoicing.PriceBook>();
        return usage.ToDictionary(u => u.Key, u => Billing.Invoicing.InvoiceCalculator.Calculate(u.Value, book,
            profiles.TryGetValue(u.Key, out var p) ? Billing.Invoicing.Issuing.InvoiceIssuer.BillTo(p, period).Country : "ZZ").Total);
    }

    /// <summary>
    /// N budgets, one per account with a cost (round again when N is larger), alerting at 50, 80 and 100% of an
    /// amount of 1.0, 1.1, ... 1.9 times the account's month in turn (cents floored), so thresholds are reached all
    /// through the ingest and not all at its end; then waits until the budget watch has seen them and their first
    /// readings are done, so the ingest is measured with every budget in force. Returns the budgets and the alerts due.
    /// </summary>
    static async Task<(int Budgets, int Alerts)> DefineBudgetsAsync(IServiceProvider services, IReadOnlyDictionary<string, decimal> costs, int count)
    {
        var accounts = costs.Where(c => c.Value >= 0.02m).OrderBy(c => c.Key, StringComparer.Ordinal).ToList();
        if (accounts.Count == 0) throw new CliException("no account has a cost to set a budget for");
        var store = services.GetRequiredService<IDocumentStore>();
        var clock = services.GetRequiredService<IClock>();
        var due = 0;
        for (var i = 0; i < count; i++)
        {
            var (account, cost) = accounts[i % accounts.Count];
            var amount = Math.Floor(cost * (1 + i % 10 / 10m) * 100) / 100;
            var terms = Billing.Invoicing.Budgets.BudgetTerms.Check(account, amount.ToString(System.Globalization.CultureInfo.InvariantCulture), null, null, $"bench {i}").Terms!;
            due += terms.Thresholds.Count(t => Billing.Invoicing.Budgets.BudgetCrossings.Level(terms.Amount, t) <= cost);
            await Billing.Host.Features.Budgets.BudgetRoutes.SetAsync(store, terms, Billing.Host.Access.Actor.Cli("bench"), clock, CancellationToken.None);
        }
        await Task.Delay(Billing.Host.Features.Budgets.BudgetWatch.Every * 2);
        await QueueDrainedAsync(store.Options.Schema.DatabaseSchemaName, services);
        Console.Error.WriteLine($"bench: {count:N0} budgets defined over {Math.Min(count, accounts.Count):N0} accounts, {due:N0} alerts due");
        return (count, due);
    }

    /// <summary>Waits until the budget queue is empty and nothing taken from it is being evaluated.</summary>
    static async Task QueueDrainedAsync(string schema, IServiceProvider services)
    {
        var timer = Stopwatch.StartNew();
        var connection = services.GetRequiredService<BillingSettings>().ConnectionString;
        while (true)
        {
            await using var c = new NpgsqlConnection(connection);
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand($"""
                select (select count(*) from {BillingHost.QueueSchema}.wolverine_queue_{Billing.Host.Features.Budgets.BudgetWiring.Queue})
                     + (select count(*) from {schema}.wolverine_incoming_envelopes where status <> 'Handled' and message_type like '%EvaluateBudgets')
                """, c);
            if (Convert.ToInt64(await cmd.ExecuteScalarAsync()) == 0) return;
            if (timer.Elapsed > TimeSpan.FromMinutes(10)) throw new CliException("the budget queue did not drain within 10 minutes");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Every alert's latency: decided (CrossedAt) after the batch that set its reading off began deciding
    /// (TriggeredAt), on this process's clock, so the batch's own decide-and-commit time is in it: an upper bound
    /// of commit-to-commit. With --nodes above 1 the nodes' clocks differ by their start, so only --nodes 1 gives it.
    /// </summary>
    static async Task<JsonObject> AlertLatencyAsync(IServiceProvider services, BillingPeriod period, int expected)
    {
        var ended = Stopwatch.StartNew();
        var store = services.GetRequiredService<IDocumentStore>();
        await QueueDrainedAsync(store.Options.Schema.DatabaseSchemaName, services);
        var settled = ended.Elapsed;
        await using var session = store.QuerySession();
        var alerts = await session.Query<Billing.Invoicing.Budgets.BudgetAlert>().ToListAsync();
        var ms = alerts.Select(a => (a.CrossedAt - a.TriggeredAt).TotalMilliseconds).Order().ToList();
        double At(double q) => ms.Count == 0 ? 0 : Math.Round(ms[(int)Math.Min(ms.Count - 1, Math.Ceiling(q * ms.Count) - 1)]);
        return new JsonObject
        {
            // Expected in the month benchmarked; the next one (the workload clock's, one day in) raises a few of its own.
            ["expected"] = expected, ["raised"] = alerts.Count(a => a.Period == period.ToString()), ["raisedInOtherPeriods"] = alerts.Count(a => a.Period != period.ToString()), ["p50Ms"] = At(0.5), ["p99Ms"] = At(0.99), ["maxMs"] = ms.Count == 0 ? 0 : Math.Round(ms[^1]),
            ["settledSecondsAfterIngest"] = Math.Round(settled.TotalSeconds, 1),
        };
    }

    /// <summary>One more node: `billing serve` on the benchmark's database, bus, partitions and workload clock.</summary>
    static Process StartNode(BillingSettings settings, string benchDb, Instant now)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        // The host's billing.dll, copied beside the bench's with its runtimeconfig.json.
        info.ArgumentList.Add(typeof(Cli).Assembly.Location);
        info.ArgumentList.Add("serve");
        info.Environment["BILLING_DB"] = benchDb;
        info.Environment["BILLING_URLS"] = "http://127.0.0.1:0";
        info.Environment["BILLING_INGEST_PARTITIONS"] = $"{settings.IngestPartitions}";
        info.Environment["BILLING_BENCH_CLOCK"] = NodaTime.Text.InstantPattern.ExtendedIso.Format(now);
        if (settings.RabbitMqUri is { } amqp) info.Environment["BILLING_RABBITMQ"] = amqp;
        else info.Environment.Remove("BILLING_RABBITMQ");
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Console.Error.WriteLine($"node {process.Id}: {line}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Waits (up to 2 minutes) until the leader has spread the P partitions over <paramref name="owners"/> nodes.</summary>
    static async Task WaitForPartitionsAsync(string benchDb, int partitions, int owners, IReadOnlyList<Process> others)
    {
        var timer = Stopwatch.StartNew();
        Console.Error.WriteLine($"bench: waiting for {partitions} partitions to be spread over {owners} nodes...");
        while (true)
        {
            if (others.FirstOrDefault(p => p.HasExited) is { } dead) throw new CliException($"node {dead.Id} exited with {dead.ExitCode}");
            await using (var connection = new NpgsqlConnection(benchDb))
            {
                await connection.OpenAsync();
                await using var cmd = new NpgsqlCommand("select count(*), count(distinct node_id) from billing.wolverine_node_assignments where id like '%usage_partition%'", connection);
                try
                {
                    await using var reader = await cmd.ExecuteReaderAsync();
                    await reader.ReadAsync();
                    if (reader.GetInt64(0) == partitions && reader.GetInt64(1) == owners) break;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    // Not created yet.
                }
            }
            if (timer.Elapsed > TimeSpan.FromMinutes(2)) throw new CliException($"the partitions were not spread over {owners} nodes within 2 minutes");
            await Task.Delay(250);
        }
        Console.Error.WriteLine($"bench: partitions spread in {timer.Elapsed.TotalSeconds:0.0} s");
    }

    static JsonObject Phase(long records, TimeSpan elapsed, double peakMb, double cpuSeconds) => new()
    {
        ["seconds"] = Math.Round(elapsed.TotalSeconds, 1),
        ["processCpuSeconds"] = cpuSeconds,
        ["recordsPerSecond"] = Math.Round(records / elapsed.TotalSeconds),
        ["peakWorkingSetMb"] = peakMb,
    };

    /// <summary>The first <paramref name="records"/> records of a synthetic month for <paramref name="accounts"/> accounts.</summary>
    static long Generate(BillingPeriod period, int accounts, int records, string file)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        using var writer = new StreamWriter(file);
        var count = 0L;
        // Enough traffic records per endpoint-AZ-hour that the month holds the records asked for.
        var month = new SyntheticUsage(period, accounts, seed: 2026).Records().LongCount();
        var perHour = Math.Max(1, (int)Math.Ceiling((double)records / month));
        foreach (var r in new SyntheticUsage(period, accounts, seed: 2026, recordsPerHour: perHour).Records().Take(records))
        {
            writer.WriteLine(RecordJson.Serialize(r));
            count++;
        }
        return count;
    }

    /// <summary>PostgreSQL's own limit: the same records as rows, 100 per INSERT, 4 clients, into a table with a primary key and a unique index.</summary>
    static async Task<TimeSpan> RawInsertAsync(string connectionString, string file, long total)
    {
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("""
                drop table if exists bench_raw;
                create table bench_raw (seq bigserial primary key, id text not null, endpoint_id text not null, at timestamptz not null, body jsonb not null);
                create unique index bench_raw_id on bench_raw (id);
                """, connection);
            await create.ExecuteNonQueryAsync();
        }
        using var progress = new CliProgress("raw insert", total);
        var done = 0L;
        var timer = Stopwatch.StartNew();
        var chunks = File.ReadLines(file).Chunk(RawRowsPerInsert);
        using var enumerator = chunks.GetEnumerator();
        var gate = new object();
        await Task.WhenAll(Enumerable.Range(0, RawClients).Select(async _ =>
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            while (true)
            {
                string[] chunk;
                lock (gate)
                {
                    if (!enumerator.MoveNext()) return;
                    chunk = enumerator.Current;
                }
                var ids = new string[chunk.Length];
                var endpoints = new string[chunk.Length];
                var ats = new DateTime[chunk.Length];
                for (var i = 0; i < chunk.Length; i++)
                {
                    using var doc = JsonDocument.Parse(chunk[i]);
                    ids[i] = doc.RootElement.GetProperty("id").GetString()!;
                    endpoints[i] = doc.RootElement.TryGetProperty("endpointId", out var e) ? e.GetString()! : doc.RootElement.GetProperty("accountId").GetString()!;
                    ats[i] = doc.RootElement.GetProperty("at").GetDateTime().ToUniversalTime();
                }
                await using var insert = new NpgsqlCommand(
                    "insert into bench_raw (id, endpoint_id, at, body) select * from unnest(@ids, @endpoints, @ats, @bodies::jsonb[])", connection);
                insert.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = ids });
                insert.Parameters.Add(new NpgsqlParameter("endpoints", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = endpoints });
                insert.Parameters.Add(new NpgsqlParameter("ats", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = ats });
                insert.Parameters.Add(new NpgsqlParameter("bodies", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = chunk });
                await insert.ExecuteNonQueryAsync();
                progress.Report(Interlocked.Add(ref done, chunk.Length));
            }
        }));
        progress.Done(done);
        return timer.Elapsed;
    }

    static async Task RecreateAsync(NpgsqlConnectionStringBuilder server, string database)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server.ConnectionString) { Database = "postgres", Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"drop database if exists {database} with (force)", connection);
        await drop.ExecuteNonQueryAsync();
        await using var create = new NpgsqlCommand($"create database {database}", connection);
        await create.ExecuteNonQueryAsync();
    }

    /// <summary>Samples the process's working set; reports each phase's peak and the overall peak, in MB.</summary>
    sealed class MemoryWatch
    {
        double _phasePeak;
        TimeSpan _cpuAtStart;
        Timer? _timer;
        IReadOnlyList<Process> _others = [];

        /// <summary>The highest working set any one node (this process or another) reached, in MB.</summary>
        public double PeakNodeMb { get; private set; }

        public void Watch(IReadOnlyList<Process> others) => _others = others;

        /// <summary>CPU time this process used in the last phase (PostgreSQL's is not counted), in seconds.</summary>
        public double CpuSeconds { get; private set; }
        public double PeakMb { get; private set; }

        public void Start(string phase)
        {
            // Give the previous phase's memory back, so each phase's peak is its own.
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            _phasePeak = 0;
            using var process = Process.GetCurrentProcess();
            _cpuAtStart = process.TotalProcessorTime;
            _timer = new Timer(_ => Sample(), null, 0, 100);
        }

        void Sample()
        {
            using var process = Process.GetCurrentProcess();
            var mb = Math.Round(process.WorkingSet64 / 1048576.0);
            if (mb > _phasePeak) _phasePeak = mb;
            if (mb > PeakMb) PeakMb = mb;
            foreach (var other in _others)
            {
                try
                {
                    other.Refresh();
                    if (!other.HasExited) mb = Math.Max(mb, Math.Round(other.WorkingSet64 / 1048576.0));
                }
                catch (InvalidOperationException)
                {
                    // It exited between the check and the read.
                }
            }
            if (mb > PeakNodeMb) PeakNodeMb = mb;
        }

        public double Stop()
        {
            _timer?.Dispose();
            Sample();
            using (var process = Process.GetCurrentProcess()) CpuSeconds = Math.Round((process.TotalProcessorTime - _cpuAtStart).TotalSeconds, 1);
            return _phasePeak;
        }
    }

}
