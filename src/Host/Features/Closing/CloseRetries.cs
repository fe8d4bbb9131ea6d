using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using Billing.Invoicing.Closing;
using Billing.Metering;
using Marten;
using NodaTime;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Runtime;
using Wolverine.Runtime.Handlers;
using Wolverine.Runtime.Serialization;
using Wolverine.Util;

namespace Billing.Host.Features;

/// <summary>
/// How a close that fails is tried again (the error policy of <see cref="ClosePeriodHandler"/>'s chain,
/// applied to every failed attempt): the failure is recorded first, in the database
/// (<see cref="CloseFailure"/>, read by every node's /health/ready) and on the counter
/// <c>billing_close_failures_total</c>; then a close from the bus is scheduled again after 10 s, 30 s,
/// 1 min and 5 min (each at most one tick), and every tick after that, for as long as it fails. It is
/// never parked: a parked close would wait for an operator while the schedule sent new ones beside it.
/// A close run in place (<c>billing close</c>, through InvokeAsync) is not retried: its failure is
/// recorded and thrown to the caller.
/// </summary>
public sealed class CloseRetries : IContinuationSource
{
    /// <summary>The delays before the first retries; each is cut to the tick interval, which is the delay of every later one.</summary>
    public static readonly TimeSpan[] Backoff = [TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5)];

    static readonly string ClosePeriodType = typeof(ClosePeriod).ToMessageTypeName();
    static readonly JsonSerializerOptions MessageJson = new() { PropertyNameCaseInsensitive = true };

    public string Description => "record the failed close (CloseFailure, billing_close_failures_total), then retry it after 10 s, 30 s, 1 min, 5 min and every tick";

    /// <summary>The delay after failed attempt <paramref name="attempt"/> (1-based).</summary>
    public static TimeSpan DelayAfter(int attempt, TimeSpan tick)
    {
        var delay = attempt >= 1 && attempt <= Backoff.Length ? Backoff[attempt - 1] : tick;
        return delay < tick ? delay : tick;
    }

    public IContinuation Build(Exception ex, Envelope envelope) => new Retry(ex);

    sealed class Retry(Exception exception) : IContinuation, IInlineContinuation
    {
        public async ValueTask ExecuteAsync(IEnvelopeLifecycle lifecycle, IWolverineRuntime runtime, DateTimeOffset now, Activity? activity)
        {
            var attempt = Math.Max(1, lifecycle.Envelope?.Attempts ?? 1);
            var delay = DelayAfter(attempt, runtime.Services.GetRequiredService<BillingSettings>().CloseTick);
            await RecordAsync(runtime.Services, lifecycle.Envelope?.Message as ClosePeriod, exception, attempt, delay);
            activity?.AddEvent(new ActivityEvent("wolverine.envelope.rescheduled"));
            await lifecycle.ReScheduleAsync(now.Add(delay));
        }

        public async ValueTask<InvokeResult> ExecuteInlineAsync(IEnvelopeLifecycle lifecycle, IWolverineRuntime runtime, DateTimeOffset now, Activity? activity, CancellationToken cancellation)
        {
            await RecordAsync(runtime.Services, lifecycle.Envelope?.Message as ClosePeriod, exception, Math.Max(1, lifecycle.Envelope?.Attempts ?? 1), retryIn: null);
            ExceptionDispatchInfo.Throw(exception);
            return InvokeResult.Stop;
        }
    }

    /// <summary>
    /// Counts the failed attempt, logs it and records it on the period's <see cref="CloseFailure"/> in a
    /// transaction of its own (the close's own rolled back). A record that cannot be written (PostgreSQL
    /// away) is logged; the retry goes ahead regardless.
    /// </summary>
    public static async Task RecordAsync(IServiceProvider services, ClosePeriod? close, Exception exception, int attempt, TimeSpan? retryIn)
    {
        services.GetRequiredService<Operations.BillingMetrics>().CloseFailed();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(CloseRetries));
        var error = Describe(exception);
        logger.LogError(exception, "closing {Period} failed (attempt {Attempt}){Retry}: {Error}", close?.Period.ToString() ?? "(unreadable message)", attempt,
            retryIn is { } d ? $", retried in {d.TotalSeconds:0.#} s" : "", error);
        if (close is null) return;
        try
        {
            var clock = services.GetRequiredService<IClock>();
            await using var session = services.GetRequiredService<IDocumentStore>().LightweightSession();
            var earlier = await session.LoadAsync<CloseFailure>(close.Period.ToString());
            var now = clock.GetCurrentInstant();
            session.Store(CloseFailure.After(earlier, close.Period, now, error, close.RequestedBy, retryIn is { } delay ? now + Duration.FromTimeSpan(delay) : null));
            await session.SaveChangesAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "the failed close of {Period} could not be recorded", close.Period);
        }
    }

    /// <summary>
    /// An exception as one line for an operator: PostgreSQL's own error when one is inside (Marten wraps
    /// it with the SQL text), otherwise the outer exception's first line, at most 300 characters.
    /// </summary>
    public static string Describe(Exception exception)
    {
        Exception shown = exception;
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is NpgsqlException) { shown = e; break; }
        var line = shown.Message.Split('\n', 2)[0].Trim();
        if (line.Length > 300) line = line[..300] + "…";
        return $"{shown.GetType().Name}: {line}";
    }

    /// <summary>
    /// The periods with a close in flight: the closes' local queue is durable, so each is a row of the
    /// message store's inbox under its own type, incoming while it runs and scheduled while it waits for
    /// its retry (handled rows are kept a while, and not counted); its body is the envelope, whose data
    /// is the <see cref="ClosePeriod"/> as JSON.
    /// </summary>
    public static async Task<IReadOnlySet<BillingPeriod>> PendingAsync(IDocumentStore store, CancellationToken ct)
    {
        var schema = ((DocumentStore)store).Options.DatabaseSchemaName;
        await using var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select body from {schema}.wolverine_incoming_envelopes where message_type = @type and status in ('Incoming', 'Scheduled')", connection);
        command.Parameters.AddWithValue("type", ClosePeriodType);
        var periods = new HashSet<BillingPeriod>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            if (Read(reader.GetFieldValue<byte[]>(0)) is { } close) periods.Add(close.Period);
        return periods;
    }

    static ClosePeriod? Read(byte[] body)
    {
        try
        {
            return EnvelopeSerializer.Deserialize(body).Data is { Length: > 0 } data ? JsonSerializer.Deserialize<ClosePeriod>(data, MessageJson) : null;
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException or IndexOutOfRangeException or EndOfStreamException or FormatException)
        {
            return null;
        }
    }
}
