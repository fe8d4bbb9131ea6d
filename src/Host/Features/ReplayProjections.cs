using Billing.Metering;
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
    public static async Task<int> RunAsync(IServiceProvider services, CancellationToken ct)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        var settings = services.GetRequiredService<BillingSettings>();
        var timer = System.Diagnostics.Stopwatch.StartNew();
        var events = await ReplayAsync(store, settings.ConnectionString, ct);
        Console.WriteLine($"replayed {events:N0} events into every projection in {timer.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    public static async Task<long> ReplayAsync(IDocumentStore store, string connectionString, CancellationToken ct)
    {
        var highWater = await ScalarAsync(connectionString, $"select coalesce(max(seq_id), 0) from {MeteringStore.Schema}.mt_events", ct);
        using var daemon = await store.BuildProjectionDaemonAsync();
        // Rebuilt side by side: each reads the event store on its own, so PostgreSQL's work and
        // .NET's work overlap on the two cores instead of taking turns.
        var names = store.Options.Events.Projections().Select(p => p.Name).Distinct().ToList();
        using var progress = new CliProgress($"replay {names.Count} projections", highWater * names.Count);
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watcher = WatchAsync(connectionString, names, highWater, progress, watching.Token);
        await Task.WhenAll(names.Select(name => daemon.RebuildProjectionAsync(name, TimeSpan.FromMinutes(30), ct)));
        await watching.CancelAsync();
        await watcher;
        progress.Done(highWater * names.Count, "events");
        return highWater;
    }

    /// <summary>Reports the events every projection has processed so far, summed (one query a poll).</summary>
    static async Task WatchAsync(string connectionString, IReadOnlyList<string> names, long highWater, CliProgress progress, CancellationToken ct)
    {
        var patterns = string.Join(", ", names.Select(n => $"'{n.Replace("'", "''")}%'"));
        var sql = $"select coalesce(sum(least(last_seq_id, {highWater})), 0) from {MeteringStore.Schema}.mt_event_progression where name like any(array[{patterns}])";
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(500, ct);
                progress.Report(await ScalarAsync(connectionString, sql, ct), "events");
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
