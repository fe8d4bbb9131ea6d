using Billing.Host.Features;
using Billing.Invoicing.Closing;
using Billing.Invoicing.Issuing;
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

/// <summary>Messages in each queue of the bus that holds what waits, by queue name (<see cref="ReadinessReader.ReadQueuesAsync"/>).</summary>
public sealed record QueueDepths(string Transport, IReadOnlyDictionary<string, long> Depths)
{
    public long Total => Depths.Values.Sum();
}

/// <summary>
/// Messages Wolverine has parked, which nothing retries: <see cref="Store"/> in the message store's
/// dead letters (by message type in <see cref="ByType"/>), <see cref="Broker"/> on RabbitMQ's dead-letter
/// queue; <see cref="Replaying"/> are marked for replay and about to go back to their queues.
/// </summary>
public sealed record ParkedMessages(long Store, long Broker, long Replaying, IReadOnlyDictionary<string, long> ByType)
{
    public long Total => Store + Broker;
}

/// <summary>
/// Reads the figures behind /health/ready and the gauges from the database, with plain SQL that
/// touches indexes only (no count over the event store), so a probe every few seconds costs little.
/// </summary>
public sealed class ReadinessReader(IDocumentStore store, BillingSettings settings, IClock clock, BillingMetrics metrics)
{
    /// <summary>Waiting messages decoded per reading at most: beyond that the backlog itself is the alarm.</summary>
    public const int MaxMessagesRead = 1000;

    static readonly string IngestBatchType = typeof(IngestBatch).ToMessageTypeName();

    /// <summary>Wolverine's type for a message it scheduled for a destination that cannot schedule (TransportConstants.ScheduledEnvelope, internal).</summary>
    const string ScheduledEnvelopeType = "scheduled-envelope";

    /// <summary>When this node began to serve: it gives the schedule BILLING_READY_MAX_OVERDUE_SECONDS from here before calling an old period overdue.</summary>
    public Instant ServingSince { get; } = clock.GetCurrentInstant();

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
        metrics.Update(r => r with { LagEvents = lag.Events, LagSeconds = lag.Seconds });
        return lag;
    }

    /// <summary>
    /// Waiting records are retried as delayed <see cref="IngestBatch"/> messages: on the PostgreSQL bus
    /// they sit in the partition queues' scheduled tables (billing_queues.wolverine_queue_usage_partitionN_scheduled)
    /// until due; on RabbitMQ, which has no native scheduling here, Wolverine keeps each as a 'Scheduled'
    /// incoming envelope of type <c>scheduled-envelope</c> (its data is the batch's own envelope), and a
    /// retry scheduled to a local queue is one too. Each message's body is an envelope whose data is the
    /// batch with every record's first arrival, so the age is that of the record itself, not of its latest retry.
    /// </summary>
    public async Task<WaitingRecords> ReadWaitingAsync(CancellationToken ct)
    {
        var storage = ((DocumentStore)store).Options.DatabaseSchemaName;
        var sources = new List<string>();
        for (var p = 1; p <= settings.IngestPartitions; p++)
            sources.Add($"select execution_time, body from {BillingHost.QueueSchema}.wolverine_queue_{BillingHost.IngestQueue}{p}_scheduled where message_type = @type");
        sources.Add($"select execution_time, body from {storage}.wolverine_incoming_envelopes where status = 'Scheduled' and message_type in (@type, @scheduled)");
        var sql = $"with waiting as ({string.Join(" union all ", sources)}) select count(*) over (), body from waiting order by execution_time limit {MaxMessagesRead}";

        await using var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        long rows = 0, read = 0, messages = 0, records = 0;
        Instant? oldest = null;
        await using (var reader = await Command(connection, sql, new NpgsqlParameter("type", IngestBatchType), new NpgsqlParameter("scheduled", ScheduledEnvelopeType)).ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
            {
                rows = reader.GetInt64(0);
                read++;
                if (Batch(reader.GetFieldValue<byte[]>(1)) is not { } batch) continue;
                messages++;
                records += batch.Records.Count;
                foreach (var record in batch.Records)
                    if (oldest is null || record.FirstSeenAt < oldest) oldest = record.FirstSeenAt;
            }
        var seconds = oldest is { } first ? Math.Max(0, (clock.GetCurrentInstant() - first).TotalSeconds) : 0;
        // Rows beyond the ones read are counted as messages unread; scheduled envelopes of other messages are not waiting records.
        var waiting = new WaitingRecords(messages + (rows - read), records, seconds, read < rows);
        metrics.Update(r => r with { WaitingRecords = waiting.Records, WaitingOldestSeconds = waiting.OldestSeconds });
        return waiting;
    }

    /// <summary>
    /// The depth of every queue what waits can sit in: on PostgreSQL the queue tables
    /// (billing_queues.wolverine_queue_usage_partitionN, the producers' wolverine_queue_usage) and the
    /// partitions' _scheduled tables; on RabbitMQ the queues usage and usage_partition1..P (ready
    /// messages, by a passive declare) and the broker's dead-letter queue. A queue not declared yet is absent.
    /// </summary>
    public async Task<QueueDepths> ReadQueuesAsync(CancellationToken ct)
    {
        var names = new[] { BillingHost.UsageQueue }.Concat(Enumerable.Range(1, settings.IngestPartitions).Select(p => $"{BillingHost.IngestQueue}{p}")).ToList();
        var depths = new SortedDictionary<string, long>(StringComparer.Ordinal);
        // The partitions' queues are PostgreSQL tables on either bus; with a broker, the producers' queue and its dead letters are RabbitMQ's.
        if (settings.RabbitMqUri is { } uri)
            foreach (var (queue, depth) in await BrokerDepthsAsync(uri, ct)) depths[queue] = depth;
        var tables = names.Skip(settings.RabbitMqUri is null ? 0 : 1).Select(n => (Name: n, Table: $"{BillingHost.QueueSchema}.wolverine_queue_{n}"))
            .Concat(names.Skip(1).Select(n => (Name: $"{n}_scheduled", Table: $"{BillingHost.QueueSchema}.wolverine_queue_{n}_scheduled")))
            .ToList();
        await using (var connection = store.Storage.Database.CreateConnection())
        {
            await connection.OpenAsync(ct);
            var present = new HashSet<string>(StringComparer.Ordinal);
            await using (var reader = await Command(connection, "select t from unnest(@tables) as t where to_regclass(t) is not null",
                             new NpgsqlParameter("tables", tables.Select(t => t.Table).ToArray())).ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) present.Add(reader.GetString(0));
            var counted = tables.Where(t => present.Contains(t.Table)).ToList();
            if (counted.Count > 0)
            {
                var sql = string.Join(" union all ", counted.Select((t, i) => $"select {i}, count(*) from {t.Table}"));
                await using var reader = await Command(connection, sql).ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct)) depths[counted[reader.GetInt32(0)].Name] = reader.GetInt64(1);
            }
        }
        metrics.Update(r => r with { QueueDepths = depths });
        return new QueueDepths(settings.RabbitMqUri is null ? "postgresql" : "rabbitmq", depths);
    }

    /// <summary>
    /// What Wolverine has parked: the message store's dead letters (wolverine_dead_letters, not archived;
    /// those marked for replay apart) by message type, and on RabbitMQ the broker's dead-letter queue.
    /// </summary>
    public async Task<ParkedMessages> ReadParkedAsync(CancellationToken ct)
    {
        var storage = ((DocumentStore)store).Options.DatabaseSchemaName;
        var byType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long replaying = 0;
        await using (var connection = store.Storage.Database.CreateConnection())
        {
            await connection.OpenAsync(ct);
            await using var reader = await Command(connection,
                $"select message_type, coalesce(replayable, false), count(*) from {storage}.wolverine_dead_letters where archived_at is null group by 1, 2").ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                if (reader.GetBoolean(1)) replaying += reader.GetInt64(2);
                else byType[reader.GetString(0)] = byType.GetValueOrDefault(reader.GetString(0)) + reader.GetInt64(2);
            }
        }
        long broker = 0;
        if (settings.RabbitMqUri is { } uri)
            broker = (await BrokerDepthsAsync(uri, ct)).GetValueOrDefault(BrokerQueues.DeadLetterQueue);
        var parked = new ParkedMessages(byType.Values.Sum(), broker, replaying, byType);
        metrics.Update(r => r with { ParkedMessages = parked.Total });
        return parked;
    }

    /// <summary>
    /// The due periods not closed yet (<see cref="PeriodClose.NotClosed"/>), with the failed closes every
    /// node recorded (<see cref="CloseFailure"/>): a few primary-key reads.
    /// </summary>
    public async Task<IReadOnlyList<DuePeriod>> ReadClosingAsync(CancellationToken ct)
    {
        var now = clock.GetCurrentInstant();
        var window = settings.LateWindow;
        var open = window.OpenPeriods(now).Select(p => p.ToString()).ToArray();
        await using var session = store.QuerySession();
        var closed = (await session.LoadManyAsync<ClosedPeriod>(ct, open)).Select(c => c.Period).ToHashSet();
        var failures = (await session.LoadManyAsync<CloseFailure>(ct, open)).ToDictionary(f => f.Period);
        var due = PeriodClose.NotClosed(now, settings.CloseGrace, window, closed, failures, ServingSince, Duration.FromSeconds(settings.ReadyMaxOverdueSeconds));
        metrics.Update(r => r with { PeriodsOverdue = due.Count(d => d.Overdue) });
        return due;
    }

    readonly Lock _brokerGate = new();
    (Task<IReadOnlyDictionary<string, long>> Reading, long At)? _broker;

    /// <summary>
    /// The broker's queues (usage, the partitions, the dead-letter queue) in one connection, shared by the
    /// checks of one probe (they run side by side) and by readings within a second of it.
    /// </summary>
    Task<IReadOnlyDictionary<string, long>> BrokerDepthsAsync(string uri, CancellationToken ct)
    {
        lock (_brokerGate)
        {
            if (_broker is not { } last || last.Reading.IsFaulted || last.Reading.IsCanceled || System.Diagnostics.Stopwatch.GetElapsedTime(last.At) > TimeSpan.FromSeconds(1))
            {
                string[] queues = [BillingHost.UsageQueue, BrokerQueues.DeadLetterQueue];
                // Not cancelled by the first caller's token: the others share the reading (the connection times out by itself).
                _broker = last = (BrokerQueues.DepthsAsync(uri, queues, CancellationToken.None), System.Diagnostics.Stopwatch.GetTimestamp());
            }
            return last.Reading.WaitAsync(ct);
        }
    }

    /// <summary>The batch a stored envelope carries, directly or inside a scheduled envelope; null for one that is not a batch or cannot be read (it is still counted as a message).</summary>
    static IngestBatch? Batch(byte[] body)
    {
        try
        {
            var envelope = EnvelopeSerializer.Deserialize(body);
            if (envelope.MessageType == ScheduledEnvelopeType && envelope.Data is { Length: > 0 } inner) envelope = EnvelopeSerializer.Deserialize(inner);
            return envelope.MessageType == IngestBatchType && envelope.Data is { Length: > 0 } data ? IngestBatch.Read(data) as IngestBatch : null;
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
            // Each reading on its own: a broker that is down leaves the database's figures fresh.
            await ReadAsync("the projection lag", reader.ReadLagAsync, stoppingToken);
            await ReadAsync("the waiting records", reader.ReadWaitingAsync, stoppingToken);
            await ReadAsync("the queues' depths", reader.ReadQueuesAsync, stoppingToken);
            await ReadAsync("the parked messages", reader.ReadParkedAsync, stoppingToken);
            await ReadAsync("the due periods", reader.ReadClosingAsync, stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    async Task ReadAsync<T>(string what, Func<CancellationToken, Task<T>> read, CancellationToken stoppingToken)
    {
        try
        {
            await read(stoppingToken);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            // The readiness check reports the failure; the gauges keep their last figures.
            logger.LogDebug(e, "reading {What} failed", what);
        }
    }
}
