using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using Marten;
using Npgsql;
using NodaTime;

namespace Billing.Tests.RejectedRecords;

/// <summary>
/// One real service per test class (starting one costs seconds), with a one-second retry window so
/// that records waiting for an event in flight are dead-lettered as soon as the test clock moves on.
/// </summary>
public sealed class CorpusHost : IAsyncLifetime
{
    public static readonly Duration RetryWindow = Duration.FromSeconds(1);

    public BillingTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Host = await BillingTestHost.StartAsync(configure: s => s with { RetryWindow = RetryWindow, RetryDelay = TimeSpan.FromMilliseconds(200) });

    public async Task DisposeAsync() => await Host.DisposeAsync();

    public async Task<int> DeadLetterCountAsync()
    {
        await using var session = Host.Store.QuerySession();
        return await session.Query<DeadLetter>().CountAsync();
    }

    /// <summary>How many of these record ids were accepted (the permanent id table).</summary>
    public async Task<long> AcceptedIdCountAsync(IEnumerable<string> ids)
    {
        await using var connection = new NpgsqlConnection(Host.Settings.ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"select count(*) from {MeteringStore.Schema}.record_ids where id = any(@ids)", connection);
        cmd.Parameters.AddWithValue("ids", ids.ToArray());
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Waits until every waiting entry has been dead-lettered (retries run every 200 ms); fails naming the ones still missing.</summary>
    public async Task WaitForDeadLettersAsync(IEnumerable<CorpusEntry> entries, TimeSpan timeout)
    {
        var waiting = entries.ToList();
        await Eventually.UntilAsync(async () =>
            {
                await using var session = Host.Store.QuerySession();
                var dead = (await session.Query<DeadLetter>().Select(d => d.Json).ToListAsync()).ToHashSet(StringComparer.Ordinal);
                return waiting.Where(e => !dead.Contains(e.Record)).Select(e => e.Name).ToList();
            },
            missing => missing.Count == 0, timeout, $"all {waiting.Count} waiting corpus entries dead-lettered",
            TimeSpan.FromMilliseconds(200), missing => $"not dead-lettered: {string.Join(", ", missing)}");
    }
}
