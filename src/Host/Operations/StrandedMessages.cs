using System.Diagnostics;
using Marten;
using Npgsql;
using Wolverine.Runtime;

namespace Billing.Host.Operations;

/// <summary>
/// Messages this node stored and then lost hold of. Wolverine 6.62 can strand a received message
/// (inbox, status <c>Incoming</c>) when a connection drops between storing and handling it, and a
/// message to send (outbox) when PostgreSQL restarts under its sending agent: nothing retries a row a
/// live node owns, so the records in it waited for good, with every figure of readiness at zero
/// (AsDeployedTests found both, restarting RabbitMQ and PostgreSQL). A row this node still owns,
/// there for BILLING_STRANDED_MESSAGE_SECONDS, is handed to any node, where Wolverine's own recovery
/// runs or sends it again. Every handler here is idempotent (records by id under their partition's
/// lock, closes and invoices by their keys, webhooks by their ids), so a row released while still
/// running costs a duplicate decision, never a double charge.
/// </summary>
public sealed class StrandedMessages(IDocumentStore store, IWolverineRuntime runtime, BillingSettings settings, BillingMetrics metrics, ILogger<StrandedMessages> logger) : BackgroundService
{
    readonly Dictionary<Guid, long> _firstSeen = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var after = TimeSpan.FromSeconds(settings.StrandedMessageSeconds);
        using var timer = new PeriodicTimer(after / 3 < TimeSpan.FromSeconds(30) ? after / 3 : TimeSpan.FromSeconds(30));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                var released = await SweepAsync(after, stoppingToken);
                if (released.Count == 0) continue;
                metrics.StrandedReleased(released.Count);
                logger.LogWarning("released {Count} message(s) this node held in its inbox or outbox for more than {Seconds} s, for Wolverine to run or send again: {Ids}",
                    released.Count, settings.StrandedMessageSeconds, string.Join(", ", released));
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug(e, "sweeping stranded inbox rows failed; the next sweep tries again");
            }
        }
    }

    async Task<List<Guid>> SweepAsync(TimeSpan after, CancellationToken ct)
    {
        var schema = ((DocumentStore)store).Options.DatabaseSchemaName;
        var me = runtime.Options.Durability.AssignedNodeNumber;
        await using var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        var held = new HashSet<Guid>();
        await using (var cmd = new NpgsqlCommand($"""
            select id from {schema}.wolverine_incoming_envelopes where status = 'Incoming' and owner_id = @me
            union all select id from {schema}.wolverine_outgoing_envelopes where owner_id = @me
            """, connection))
        {
            cmd.Parameters.AddWithValue("me", me);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) held.Add(reader.GetGuid(0));
        }
        var now = Stopwatch.GetTimestamp();
        foreach (var gone in _firstSeen.Keys.Where(id => !held.Contains(id)).ToList()) _firstSeen.Remove(gone);
        foreach (var id in held) _firstSeen.TryAdd(id, now);
        var stranded = held.Where(id => Stopwatch.GetElapsedTime(_firstSeen[id], now) >= after).ToArray();
        if (stranded.Length == 0) return [];
        await using var release = new NpgsqlCommand($"""
            with inbox as (update {schema}.wolverine_incoming_envelopes set owner_id = 0 where id = any(@ids) and status = 'Incoming' and owner_id = @me returning id),
                 outbox as (update {schema}.wolverine_outgoing_envelopes set owner_id = 0 where id = any(@ids) and owner_id = @me returning id)
            select id from inbox union all select id from outbox
            """, connection);
        release.Parameters.AddWithValue("ids", stranded);
        release.Parameters.AddWithValue("me", me);
        var released = new List<Guid>();
        await using (var reader = await release.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) released.Add(reader.GetGuid(0));
        foreach (var id in released) _firstSeen.Remove(id);
        return released;
    }
}
