using System.Diagnostics;
using System.Diagnostics.Metrics;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Marten;
using Marten.Services;
using Wolverine.Marten;

namespace Billing.Host.Operations;

/// <summary>
/// The service's own instruments, on the meter <see cref="MeterName"/> (names as Prometheus scrapes
/// them in docs/operations.md). Decisions and invoices are counted after their transaction commits:
/// the handlers return an op (<see cref="Decided"/>, <see cref="InvoicesIssued"/>) that registers a
/// session listener, so a rolled-back or retried batch is never counted twice.
/// </summary>
public sealed class BillingMetrics
{
    public const string MeterName = "Billing";

    readonly Counter<long> _records;
    readonly Histogram<double> _ingestDuration;
    readonly Counter<long> _invoicesIssued;
    readonly Histogram<double> _closeDuration;
    readonly Counter<long> _closeFailures;
    readonly Counter<long> _strandedReleased;
    Readings _latest = Readings.None;

    /// <summary>The last figures read from the database and the broker (<see cref="ReadinessReader"/>), observed by the gauges.</summary>
    public sealed record Readings(long LagEvents, double LagSeconds, long WaitingRecords, double WaitingOldestSeconds)
    {
        public static readonly Readings None = new(0, 0, 0, 0);

        /// <summary>Messages in each queue that holds what waits: queue name to depth (billing_queue_depth{queue}).</summary>
        public IReadOnlyDictionary<string, long> QueueDepths { get; init; } = new Dictionary<string, long>();

        public long ParkedMessages { get; init; }
        public long PeriodsOverdue { get; init; }
    }

    // From the host's IMeterFactory, so each host's meter is its own and is disposed with it.
    public BillingMetrics(IMeterFactory factory)
    {
        var meter = factory.Create(MeterName);
        // Counters carry no unit: the Prometheus exporter appends _total to a counter's name and would add the unit too.
        _records = meter.CreateCounter<long>("billing_records", description: "Usage records decided, by status (accepted, duplicate, rejected, pending) and rejection code");
        _ingestDuration = meter.CreateHistogram<double>("billing_ingest_batch_duration", "s", "One batch of records from its partitions' lock to its commit");
        _invoicesIssued = meter.CreateCounter<long>("billing_invoices_issued", description: "Invoices issued (committed with their numbers)");
        _closeDuration = meter.CreateHistogram<double>("billing_close_duration", "s", "One period's close, from reading its facts to the commit that fans out the issuing");
        _closeFailures = meter.CreateCounter<long>("billing_close_failures", description: "Attempts to close a period that failed (each retry that fails counts again)");
        _strandedReleased = meter.CreateCounter<long>("billing_stranded_messages_released", description: "Messages a node held in its inbox or outbox unhandled past BILLING_STRANDED_MESSAGE_SECONDS, handed back for Wolverine to run or send again");
        meter.CreateObservableGauge("billing_projection_lag_events", () => Latest.LagEvents, description: "Events appended that the slowest asynchronous projection has not applied yet");
        meter.CreateObservableGauge("billing_projection_lag", () => Latest.LagSeconds, "s", "Age of the oldest event the slowest asynchronous projection has not applied yet");
        meter.CreateObservableGauge("billing_waiting_records", () => Latest.WaitingRecords, description: "Records answered pending, waiting for their retry");
        meter.CreateObservableGauge("billing_waiting_oldest", () => Latest.WaitingOldestSeconds, "s", "How long the oldest waiting record has been waiting since it arrived");
        meter.CreateObservableGauge("billing_queue_depth", () => Latest.QueueDepths.Select(q => new Measurement<long>(q.Value, new KeyValuePair<string, object?>("queue", q.Key))),
            description: "Messages waiting in each ingest queue (PostgreSQL queue tables and their _scheduled tables, or RabbitMQ queues) and in the broker's dead-letter queue");
        meter.CreateObservableGauge("billing_parked_messages", () => Latest.ParkedMessages, description: "Messages Wolverine has parked (its dead-letter storage and the broker's dead-letter queue): nothing retries them");
        meter.CreateObservableGauge("billing_periods_overdue", () => Latest.PeriodsOverdue, description: "Due periods not closed longer than BILLING_READY_MAX_OVERDUE_SECONDS after they fell due");
    }

    /// <summary>Put into every session (StoreOptions.Listeners), so an op can find this host's metrics from its session.</summary>
    internal IDocumentSessionListener Marker => new MarkerListener(this);

    public void Observe(Readings readings) => Volatile.Write(ref _latest, readings);

    /// <summary>Changes some figures; readers of other figures at the same moment keep theirs (compare-and-swap).</summary>
    public void Update(Func<Readings, Readings> change)
    {
        while (true)
        {
            var before = Volatile.Read(ref _latest);
            if (ReferenceEquals(Interlocked.CompareExchange(ref _latest, change(before), before), before)) return;
        }
    }

    public Readings Latest => Volatile.Read(ref _latest);

    /// <summary>One failed attempt to close a period (counted as it fails; the attempt's transaction rolled back).</summary>
    public void CloseFailed() => _closeFailures.Add(1);
    public void StrandedReleased(int count) => _strandedReleased.Add(count);

    static BillingMetrics? Of(IDocumentSession session) => session.Listeners.OfType<MarkerListener>().FirstOrDefault()?.Metrics;

    /// <summary>Starts timing an ingest batch in its session (called where its transaction begins).</summary>
    public static void StartBatch(IDocumentSession session)
    {
        if (Of(session) is { } metrics) session.Listeners.Add(new BatchCommit(metrics, Stopwatch.GetTimestamp()));
    }

    /// <summary>The batch's outcomes, counted once its transaction commits.</summary>
    public static IMartenOp Decided(IReadOnlyList<RecordOutcome> outcomes) => new DecidedOp(outcomes);

    /// <summary>Invoices issued, counted once their transaction commits.</summary>
    public static IMartenOp InvoicesIssued(int count) => new IssuedOp(count);

    /// <summary>Starts timing a period's close in its session; recorded when that session commits.</summary>
    public static void StartClose(IDocumentSession session)
    {
        if (Of(session) is not { } metrics) return;
        var started = Stopwatch.GetTimestamp();
        session.Listeners.Add(new AfterCommit(() => metrics._closeDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds)));
    }

    sealed class MarkerListener(BillingMetrics metrics) : DocumentSessionListenerBase
    {
        public BillingMetrics Metrics { get; } = metrics;
    }

    sealed class AfterCommit(Action committed) : DocumentSessionListenerBase
    {
        public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token)
        {
            committed();
            return Task.CompletedTask;
        }
    }

    sealed class BatchCommit(BillingMetrics metrics, long started) : DocumentSessionListenerBase
    {
        public IReadOnlyList<RecordOutcome> Outcomes { get; set; } = [];

        public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token)
        {
            metrics._ingestDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
            foreach (var group in Outcomes.GroupBy(o => (o.Status, o.Reason?.Code)))
                metrics._records.Add(group.Count(),
                    new KeyValuePair<string, object?>("status", group.Key.Status.ToString().ToLowerInvariant()),
                    new KeyValuePair<string, object?>("code", group.Key.Code ?? ""));
            return Task.CompletedTask;
        }
    }

    sealed record DecidedOp(IReadOnlyList<RecordOutcome> Outcomes) : IMartenOp
    {
        public void Execute(IDocumentSession session)
        {
            if (session.Listeners.OfType<BatchCommit>().FirstOrDefault() is { } batch) batch.Outcomes = Outcomes;
        }
    }

    sealed record IssuedOp(int Count) : IMartenOp
    {
        public void Execute(IDocumentSession session)
        {
            if (Count > 0 && Of(session) is { } metrics) session.Listeners.Add(new AfterCommit(() => metrics._invoicesIssued.Add(Count)));
        }
    }
}
