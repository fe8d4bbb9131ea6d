using Billing.Host.Features;
using Marten;
using NodaTime;
using Npgsql;
using Wolverine.Runtime.Serialization;
using Wolverine.Util;

namespace Billing.Host.Operations;

/// <summary>How far the asynchronous projections are behind the event store: events and the age of the oldest one not applied.</summary>
public sealed record ProjectionLag(long Events, double Seconds, int AsyncShards);

/// <summary>
/// The records answered <c>pending</c> that wait for their retry: how many, in how many messages, and
/// how long the oldest has waited since it first arrived. <see cref="Truncated"/> when only the
/// <see cref="ReadinessReader.MaxMessagesRead"/> messages due first were read (then the figures are lower bounds).
/// </summary>
public sealed record WaitingRecords(long Messages, long Records, double OldestSeconds, bool Truncated);

/// <summary>
/// Reads the figures behind /health/ready and the gauges from the database, with plain SQL that
/// touches indexes only (no count over the event store), so a probe every few seconds costs little.
/// </summary>
public sealed class ReadinessReader(IDocumentStore store, BillingSettings settings, IClock clock, BillingMetrics metrics)
{
    /// <summary>Waiting messages decoded per reading at most: beyond that the backlog itself is the alarm.</summary>
    public const int MaxMessagesRead = 1000;

    static readonly string IngestBatchType = typeof(IngestBatch).ToMessageTypeName();

    /// <summary>
    /// The high-water mark is the highest committed event (max(seq_id), read from the primary key);
    /// each asynchronous shard's progress is its row in mt_event_progression (0 before its first run).
    /// Lag in seconds is measured on the database's clock, which stamped the events.
    /// </summary>
    public async Task<ProjectionLag> ReadLagAsync(CancellationToken ct)
    {
        var options = ((DocumentStore)store).Options;
        var schema = options.Events.DatabaseSchemaName;
        var shards = options.Projections.AllShards().Select(s => s.Name.Identity).Distinct().ToList();
        await using var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        var highWater = (long)(await Command(connection, $"select coalesce(max(seq_id), 0) from {schema}.mt_events").ExecuteScalarAsync(ct))!;
        var lag = new ProjectionLag(0, 0, shards.Count);
        if (shards.Count > 0)
        {
            var progress = new Dictionary<string, long>(StringComparer.Ordinal);
            await using (var reader = await Command(connection, $"select name, last_seq_id from {schema}.mt_event_progression").ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) progress[reader.GetString(0)] = reader.GetInt64(1);
            var slowest = shards.Min(s => progress.GetValueOrDefault(s));
            if (slowest < highWater)
            {
                var age = await Command(connection, $"select extract(epoch from now() - timestamp)::float8 from {schema}.mt_events where seq_id > @p order by seq_id limit 1",
                    new NpgsqlParameter("p", slowest)).ExecuteScalarAsync(ct);
                lag = lag with { Events = highWater - slowest, Seconds = age is double s ? Math.Max(0, s) : 0 };
            }
        }
        metrics.Observe(metrics.Latest with { LagEvents = lag.Events, LagSeconds = lag.Seconds });
        return lag;
    }

    /// <summary>
    /// Waiting records are retried as delayed <see cref="IngestBatch"/> messages: on the PostgreSQL bus
    /// they sit in the partition queues' scheduled tables (billing_queues.wolverine_queue_usage_partitionN_scheduled)
    /// until due; on RabbitMQ, which has no native scheduling here, Wolverine keeps them as 'Scheduled'
    /// incoming envelopes. Each message's body is the envelope, whose data is the batch with every
    /// record's first arrival, so the age is that of the record itself, not of its latest retry.
    /// </summary>
    public async Task<WaitingRecords> ReadWaitingAsync(CancellationToken ct)
    {
        var storage = ((DocumentStore)store).Options.DatabaseSchemaName;
        var sources = new List<string>();
        if (settings.RabbitMqUri is null)
            for (var p = 1; p <= settings.IngestPartitions; p++)
                sources.Add($"select execution_time, body from {BillingHost.QueueSchema}.wolverine_queue_{BillingHost.IngestQueue}{p}_scheduled where message_type = @type");
        sources.Add($"select execution_time, body from {storage}.wolverine_incoming_envelopes where status = 'Scheduled' and message_type = @type");
        var sql = $"with waiting as ({string.Join(" union all ", sources)}) select count(*) over (), body from waiting order by execution_time limit {MaxMessagesRead}";

        await using var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        long messages = 0, records = 0, read = 0;
        Instant? oldest = null;
        await using (var reader = await Command(connection, sql, new NpgsqlParameter("type", IngestBatchType)).ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
            {
                messages = reader.GetInt64(0);
                read++;
                if (Batch(reader.GetFieldValue<byte[]>(1)) is not { } batch) continue;
                records += batch.Records.Count;
                foreach (var record in batch.Records)
                    if (oldest is null || record.FirstSeenAt < oldest) oldest = record.FirstSeenAt;
            }
        var seconds = oldest is { } first ? Math.Max(0, (clock.GetCurrentInstant() - first).TotalSeconds) : 0;
        var waiting = new WaitingRecords(messages, records, seconds, read < messages);
        metrics.Observe(metrics.Latest with { WaitingRecords = waiting.Records, WaitingOldestSeconds = waiting.OldestSeconds });
        return waiting;
    }

    /// <summary>The batch a stored envelope carries; null for one that cannot be read (it is still counted as a message).</summary>
    static IngestBatch? Batch(byte[] body)
    {
        try
        {
            var envelope = EnvelopeSerializer.Deserialize(body);
            return envelope.Data is { Length: > 0 } data ? IngestBatch.Read(data) as IngestBatch : null;
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException or EndOfStreamException or FormatException)
        {
            return null;
        }
    }

    static NpgsqlCommand Command(NpgsqlConnection connection, string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        return command;
    }
}

/// <summary>Refreshes the gauges' figures every 15 s, whether or not anyone probes /health/ready.</summary>
public sealed class ReadinessSampler(ReadinessReader reader, ILogger<ReadinessSampler> logger) : BackgroundService
{
    static readonly TimeSpan Period = TimeSpan.FromSeconds(15);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period);
        do
        {
            try
            {
                await reader.ReadLagAsync(stoppingToken);
                await reader.ReadWaitingAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // The readiness check reports the failure; the gauges keep their last figures.
                logger.LogDebug(e, "reading the projection lag and waiting records failed");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
