using Billing.Metering;
using Billing.Metering.Ingestion;
using JasperFx.Events.Daemon;
using Marten;
using Marten.Events;
using Npgsql;

namespace Billing.Host.Features;

/// <summary>
/// `billing replay`: rebuilds every projection (endpoint timelines, account profiles, traffic
/// sums) from the event store, showing how far each has come. Usage afterwards equals usage
/// before: the event store is the only source of truth.
/// </summary>
public static class ReplayProjections
{
    public static async Task<int> RunAsync(IServiceProvider services, CliArgs args, CancellationToken ct)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        var settings = services.GetRequiredService<BillingSettings>();
        var timer = System.Diagnostics.Stopwatch.StartNew();
        var events = await ReplayAsync(store, settings.ConnectionString, ct);
        Console.WriteLine($"replayed {events:N0} events into every projection in {timer.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    public static async Task<long> ReplayAsync(IDocumentStore store, string connectionString, CancellationToken ct, int partitions = UsagePartitions.Max)
    {
        var highWater = await ScalarAsync(connectionString, $"select coalesce(max(seq_id), 0) from {MeteringStore.Schema}.mt_events", ct);
        using var daemon = await store.BuildProjectionDaemonAsync();
        // Rebuilt side by side: each reads the event store on its own, so PostgreSQL's work and
        // .NET's work overlap on the two cores instead of taking turns. The traffic hours are
        // rebuilt in bulk (TrafficHoursRebuild) rather than by the projection's row-by-row upserts.
        var names = store.Options.Events.Projections().Where(p => p is not TrafficHoursProjection).Select(p => p.Name).Distinct().ToList();
        var progress = new TerminalProgress($"replay {names.Count + 1} projections", highWater * (names.Count + 1));
        long traffic = 0;
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watcher = WatchAsync(connectionString, names, highWater, () => Math.Min(Interlocked.Read(ref traffic), highWater), progress, watching.Token);
        await Task.WhenAll(names.Select(name => daemon.RebuildProjectionAsync(name, TimeSpan.FromMinutes(30), ct))
            .Append(TrafficHoursRebuild.RunAsync(connectionString, partitions, seq => Interlocked.Exchange(ref traffic, seq), ct)));
        await watching.CancelAsync();
        await watcher;
        progress.Done(highWater * (names.Count + 1), "events");
        return highWater;
    }

    /// <summary>Reports the events every projection has processed so far, summed (one query a poll).</summary>
    static async Task WatchAsync(string connectionString, IReadOnlyList<string> names, long highWater, Func<long> traffic, TerminalProgress progress, CancellationToken ct)
    {
        var patterns = string.Join(", ", names.Select(n => $"'{n.Replace("'", "''")}%'"));
        var sql = $"select coalesce(sum(least(last_seq_id, {highWater})), 0) from {MeteringStore.Schema}.mt_event_progression where name like any(array[{patterns}])";
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(500, ct);
                progress.Report(await ScalarAsync(connectionString, sql, ct) + traffic(), "events");
            }
        }
        catch (OperationCanceledException) { }
    }

    static async Task<long> ScalarAsync(string connectionString, string sql, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct));
    }
}
