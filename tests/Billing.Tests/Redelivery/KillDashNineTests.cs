using System.Diagnostics;
using System.Text.RegularExpressions;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;
using Npgsql;
using Xunit.Abstractions;

namespace Billing.Tests.Redelivery;

/// <summary>
/// Once per class: a synthetic month big enough that an import takes a few seconds (~13,000
/// records), and an uninterrupted import of it by a
/// real `billing import` process into a fresh database, whose usage every killed run must match.
/// The child reads the machine's clock, so the month is last month by that clock: inside the late
/// window on any date, whatever the date (a fixed October was refused as too late from December).
/// </summary>
public sealed class KillDashNineFixture : IAsyncLifetime
{
    public static readonly BillingPeriod Month = BillingPeriod.Of(NodaTime.SystemClock.Instance.GetCurrentInstant()).Previous;

    /// <summary>Long enough for a healthy import here (about 10 s), short enough that a stuck one fails the test with its output.</summary>
    public static readonly TimeSpan ImportTimeout = TimeSpan.FromMinutes(3);

    public string Dll { get; private set; } = "";
    public string BuildNote { get; private set; } = "";
    public string File { get; private set; } = "";
    public long Records { get; private set; }
    public ImportLine Baseline { get; private set; } = null!;
    public TimeSpan BaselineWall { get; private set; }
    public Dictionary<string, string> BaselineUsage { get; private set; } = [];

    public async Task InitializeAsync()
    {
        // The billing executable built with the tests (the test project references the host).
        Dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");
        BuildNote = $"ran {Dll}";
        var watch = Stopwatch.StartNew();

        File = Path.Combine(Path.GetTempPath(), $"billing-redelivery-{Guid.NewGuid():N}.jsonl");
        Records = new SyntheticUsage(Month, accounts: 4, seed: 9, recordsPerHour: 1).WriteJsonLines(File);

        var db = await PostgresServer.CreateDatabaseAsync("billing_kill_base");
        watch.Restart();
        await using (var child = ChildProcess.Start(Dll, db, "import", File))
        {
            var exit = await child.WaitForExitAsync(ImportTimeout);
            if (exit != 0) throw new InvalidOperationException($"baseline import exited {exit}\n{ChildProcess.Tail(child.StandardError)}");
            Baseline = ImportLine.Parse(child.StandardOutput);
        }
        BaselineWall = watch.Elapsed;
        if (Baseline.Accepted != Records || Baseline.Duplicates != 0 || Baseline.Rejected != 0)
            throw new InvalidOperationException($"the uninterrupted import of {Records} records of {Month} gave {Baseline}; rejected by code: {await RejectedByCodeAsync(db)}");
        await using var host = await BillingTestHost.StartAsync(db);
        BaselineUsage = await host.AllUsageJsonAsync(Month.ToString());
    }

    static async Task<string> RejectedByCodeAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select data ->> 'code', count(*) from billing.mt_doc_deadletter group by 1 order by 2 desc", connection);
        await using var reader = await cmd.ExecuteReaderAsync();
        var codes = new List<string>();
        while (await reader.ReadAsync()) codes.Add($"{reader.GetString(0)} {reader.GetInt64(1)}");
        return codes.Count == 0 ? "none" : string.Join(", ", codes);
    }

    public Task DisposeAsync()
    {
        if (System.IO.File.Exists(File)) System.IO.File.Delete(File);
        return Task.CompletedTask;
    }

}

/// <summary>What `billing import` prints when it is done.</summary>
public sealed record ImportLine(long Records, double Seconds, long Accepted, long Duplicates, long Rejected)
{
    static readonly Regex Pattern = new(@"imported ([\d,.\u00a0\u202f ]+) records in ([\d.,]+) s \(.*?\): ([\d,.\u00a0\u202f ]+) accepted, ([\d,.\u00a0\u202f ]+) duplicate, ([\d,.\u00a0\u202f ]+) rejected");

    public static ImportLine Parse(string stdout)
    {
        var m = Pattern.Match(stdout);
        if (!m.Success) throw new InvalidOperationException($"no summary line in the import's output:\n{stdout}");
        static long N(Group g) => long.Parse(new string(g.Value.Where(char.IsAsciiDigit).ToArray()));
        return new ImportLine(N(m.Groups[1]), double.Parse(m.Groups[2].Value.Replace(',', '.'), System.Globalization.CultureInfo.InvariantCulture),
            N(m.Groups[3]), N(m.Groups[4]), N(m.Groups[5]));
    }
}

/// <summary>
/// Exactly-once with real processes: `billing import` is killed with SIGKILL part-way through, so
/// the durable queue keeps its unprocessed messages and the dead node keeps the ones it had taken;
/// a second `billing import` of the same file then runs to completion. Every record must be decided
/// exactly once (accepted by one of the two imports, a duplicate for the other) and the usage of
/// every account must equal that of an uninterrupted import.
/// </summary>
[Collection(RedeliveryCollection.Name)]
public class KillDashNineTests(KillDashNineFixture fixture, ITestOutputHelper output) : IClassFixture<KillDashNineFixture>
{
    [Theory(Timeout = 420_000)]
    [InlineData("early", 15, "postgresql")]
    // Late, yet with batches still to come: the four partitions' last 1,000-record batches can commit
    // within one 50 ms poll, so past about 75% the import sometimes finished before the kill landed.
    [InlineData("late", 70, "postgresql")]
    [InlineData("mid", 50, "rabbitmq")]
    public async Task Kill_9_mid_import_then_a_second_import_decides_every_record_exactly_once(string point, int percentDecided, string bus)
    {
        // On RabbitMQ the imports are producers of the broker's queue, and the unacknowledged messages
        // of the killed process go back to the queue for the next consumer.
        var environment = bus == "rabbitmq"
            ? new Dictionary<string, string> { ["BILLING_RABBITMQ"] = await RabbitMqBroker.CreateVirtualHostAsync("kill") }
            : null;
        var total = fixture.Records;
        var threshold = Math.Max(1, total * percentDecided / 100);
        var wall = Stopwatch.StartNew();
        output.WriteLine($"{fixture.BuildNote}; file {total:N0} records; uninterrupted import {fixture.BaselineWall.TotalSeconds:0.0} s wall " +
                         $"({fixture.Baseline.Seconds:0.0} s reported), usage of {fixture.BaselineUsage.Count} accounts");

        var db = await PostgresServer.CreateDatabaseAsync("billing_kill");

        // 1. Start an import and SIGKILL it once some but not all records are decided.
        long decidedAtPoll, decidedBeforeKill;
        TimeSpan killedAfter;
        // Messages of 150 records: decisions commit in small steps, so the kill lands between two
        // of them even on a fast machine (with 1,000 a message the late point was missed once).
        await using (var first = ChildProcess.Start(fixture.Dll, db, environment, "import", fixture.File, "--batch", "150"))
        {
            var started = Stopwatch.StartNew();
            // Polled every 50 ms so that the kill lands near its point.
            decidedAtPoll = await Eventually.UntilAsync(async () =>
                {
                    var decided = await DecidedAsync(db);
                    if (decided < threshold && first.HasExited)
                        throw new InvalidOperationException($"the first import exited ({first.ExitCode}) before the kill point; decided {decided}\n{ChildProcess.Tail(first.StandardError)}");
                    return decided;
                },
                decided => decided >= threshold, KillDashNineFixture.ImportTimeout, $"{threshold} of {total} records decided by the first import",
                TimeSpan.FromMilliseconds(50), decided => $"{decided} decided\n{ChildProcess.Tail(first.StandardError)}");
            first.KillNow();
            killedAfter = started.Elapsed;
        }
        decidedBeforeKill = await DecidedAsync(db); // what committed before the process died
        var queued = await ScalarAsync(db, "select count(*) from billing_queues.wolverine_queue_usage");
        var orphaned = await ScalarAsync(db, "select count(*) from billing.wolverine_incoming_envelopes where status = 'Incoming'");
        output.WriteLine($"[{point}, {bus}] sent {total:N0} records; killed (SIGKILL) after {killedAfter.TotalSeconds:0.0} s with {decidedBeforeKill:N0} decided " +
                         $"(poll saw {decidedAtPoll:N0}); left behind: {queued} messages on the queue, {orphaned} taken by the dead node");
        Assert.InRange(decidedBeforeKill, 1, total - 1);

        // 2. Import the same file again, to completion, in a second process.
        ImportLine second;
        var secondWatch = Stopwatch.StartNew();
        await using (var rerun = ChildProcess.Start(fixture.Dll, db, environment, "import", fixture.File))
        {
            var exit = await rerun.WaitForExitAsync(KillDashNineFixture.ImportTimeout);
            Assert.True(exit == 0, $"second import exited {exit}\n{ChildProcess.Tail(rerun.StandardError)}");
            second = ImportLine.Parse(rerun.StandardOutput);
        }
        var imports = await ImportsAsync(db);
        var acceptedIds = await ScalarAsync(db, "select count(*) from billing.record_ids");
        var firstNow = imports[0];
        output.WriteLine($"[{point}] second run ({secondWatch.Elapsed.TotalSeconds:0.0} s): {second.Accepted:N0} accepted, {second.Duplicates:N0} duplicate, {second.Rejected:N0} rejected; " +
                         $"first import's row now {firstNow.Decided:N0}/{total:N0} decided; accepted over all imports {imports.Sum(i => i.Accepted):N0}; record_ids {acceptedIds:N0}; " +
                         $"still taken by the dead node: {await ScalarAsync(db, "select count(*) from billing.wolverine_incoming_envelopes where status = 'Incoming'")}");

        // 3. Usage of every account, read by a host on the killed database, against the uninterrupted import.
        Dictionary<string, string> usage;
        await using (var host = await BillingTestHost.StartAsync(db))
            usage = await host.AllUsageJsonAsync(KillDashNineFixture.Month.ToString());
        var differing = fixture.BaselineUsage.Keys.Union(usage.Keys)
            .Where(a => !fixture.BaselineUsage.TryGetValue(a, out var expected) || !usage.TryGetValue(a, out var actual) || expected != actual)
            .Order().ToList();
        output.WriteLine($"[{point}] usage matched: {(differing.Count == 0 ? "yes" : "NO")} ({usage.Count} accounts{(differing.Count > 0 ? "; differing: " + string.Join(", ", differing) : "")}); " +
                         $"test wall {wall.Elapsed.TotalSeconds:0.0} s");

        Assert.Equal(2, imports.Count);
        Assert.Equal(total, second.Records);
        Assert.Equal(total, second.Accepted + second.Duplicates);
        Assert.Equal(0, second.Rejected);
        Assert.Equal(total, imports.Sum(i => i.Accepted)); // each record accepted by exactly one of the two imports
        Assert.Equal(0, imports.Sum(i => i.Rejected));
        Assert.Equal(total, acceptedIds);
        Assert.Empty(differing);
    }

    sealed record ImportRow(Guid Id, long Expected, long Accepted, long Duplicates, long Rejected)
    {
        public long Decided => Accepted + Duplicates + Rejected;
    }

    /// <summary>Records decided so far over every import of the database (0 while the schema does not exist yet).</summary>
    static async Task<long> DecidedAsync(string connectionString)
    {
        try
        {
            return await ScalarAsync(connectionString, "select coalesce(sum(accepted + duplicates + rejected), 0)::bigint from billing.import_decisions");
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            return 0;
        }
    }

    static async Task<List<ImportRow>> ImportsAsync(string connectionString)
    {
        // Import ids are UUIDv7: ordered by creation.
        return (await Billing.Metering.Ingestion.ImportsTable.AllAsync(connectionString, CancellationToken.None))
            .Select(r => new ImportRow(r.Id, r.Expected, r.Accepted, r.Duplicates, r.Rejected)).ToList();
    }

    static Task<long> ScalarAsync(string connectionString, string sql) => DuplicatePublishTests.ScalarAsync(connectionString, sql);
}
