using System.Globalization;
using System.Text.Json;
using Marten;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using RabbitMQ.Client;

namespace Billing.Host.Operations;

/// <summary>
/// /health/live (the process answers; touches nothing) and /health/ready (PostgreSQL with the
/// schema, the bus, projection lag, waiting records, the queues' depths, parked messages and due
/// periods not closed, each against its threshold). Both unauthenticated
/// and free of customer data: figures and reasons only (docs/operations.md).
/// </summary>
public static class Health
{
    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";
    const string Ready = "ready";

    /// <summary>Each check gives up after this long, so a probe answers even when a dependency hangs.</summary>
    static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    public static IServiceCollection AddBillingHealth(this IServiceCollection services)
    {
        services.AddSingleton<ReadinessReader>();
        services.AddHostedService<ReadinessSampler>();
        services.AddHealthChecks()
            .AddCheck<PostgresqlCheck>("postgresql", tags: [Ready], timeout: CheckTimeout)
            .AddCheck<BusCheck>("bus", tags: [Ready], timeout: CheckTimeout)
            .AddCheck<ProjectionsCheck>("projections", tags: [Ready], timeout: CheckTimeout)
            .AddCheck<WaitingCheck>("waiting", tags: [Ready], timeout: CheckTimeout)
            .AddCheck<QueuesCheck>("queues", tags: [Ready], timeout: CheckTimeout)
            .AddCheck<ParkedCheck>("parked", tags: [Ready], timeout: CheckTimeout)
            .AddCheck<ClosingCheck>("closing", tags: [Ready], timeout: CheckTimeout);
        return services;
    }

    /// <summary>Maps both routes, anonymous even under a fallback authorization policy.</summary>
    public static void MapBillingHealth(this WebApplication app)
    {
        app.MapHealthChecks(LivePath, new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync }).AllowAnonymous();
        app.MapHealthChecks(ReadyPath, new HealthCheckOptions { Predicate = c => c.Tags.Contains(Ready), ResponseWriter = WriteAsync }).AllowAnonymous();
    }

    /// <summary><c>{"status":…,"checks":{name:{"status":…,"reason"?:…, figures…}}}</c>; no exception text beyond its message.</summary>
    static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        var checks = new Dictionary<string, object?>();
        foreach (var (name, entry) in report.Entries)
        {
            var body = new Dictionary<string, object?> { ["status"] = entry.Status.ToString() };
            if (entry.Description is { } reason) body["reason"] = reason;
            foreach (var (key, value) in entry.Data) body[key] = value;
            checks[name] = body;
        }
        return context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object?> { ["status"] = report.Status.ToString(), ["checks"] = checks }));
    }

    /// <summary>A check's failure as a reason: unreachable PostgreSQL said as such, anything else by its message.</summary>
    internal static HealthCheckResult Failed(string what, Exception e) =>
        HealthCheckResult.Unhealthy(StoreUnavailable.Is(e) || e is OperationCanceledException ? $"{what}: PostgreSQL is unreachable" : $"{what}: {e.Message}");

    internal static string Seconds(double s) => s.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>PostgreSQL answers and the schema the service needs has been applied (the event store, the message store and the ingest queues).</summary>
public sealed class PostgresqlCheck(IDocumentStore store, BillingSettings settings) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var schema = ((DocumentStore)store).Options.DatabaseSchemaName;
        var tables = new List<string> { $"{schema}.mt_events", $"{schema}.mt_streams", $"{schema}.wolverine_incoming_envelopes" };
        tables.AddRange(Enumerable.Range(1, settings.IngestPartitions).Select(p => $"{BillingHost.QueueSchema}.wolverine_queue_{BillingHost.IngestQueue}{p}"));
        try
        {
            await using var connection = store.Storage.Database.CreateConnection();
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand("select t from unnest(@tables) as t where to_regclass(t) is null", connection);
            command.Parameters.AddWithValue("tables", tables.ToArray());
            var missing = new List<string>();
            await using (var reader = await command.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) missing.Add(reader.GetString(0));
            return missing.Count == 0
                ? HealthCheckResult.Healthy(data: new Dictionary<string, object> { ["tables"] = tables.Count })
                : HealthCheckResult.Unhealthy($"the schema is not applied: {string.Join(", ", missing)} missing");
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or System.Net.Sockets.SocketException or TimeoutException)
        {
            return Health.Failed("postgresql", e);
        }
    }
}

/// <summary>
/// The bus: RabbitMQ when BILLING_RABBITMQ is set (a connection is opened and closed), otherwise the
/// PostgreSQL queues, which are reachable exactly when PostgreSQL is (the postgresql check).
/// </summary>
public sealed class BusCheck(BillingSettings settings) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        if (settings.RabbitMqUri is not { } uri)
            return HealthCheckResult.Healthy("PostgreSQL queues (see the postgresql check)", new Dictionary<string, object> { ["transport"] = "postgresql" });
        var data = new Dictionary<string, object> { ["transport"] = "rabbitmq" };
        try
        {
            var factory = new ConnectionFactory { Uri = new Uri(uri), RequestedConnectionTimeout = TimeSpan.FromSeconds(3), ClientProvidedName = "billing health" };
            await using var connection = await factory.CreateConnectionAsync(ct);
            await connection.CloseAsync(ct);
            return HealthCheckResult.Healthy(data: data);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The URI carries the password: the reason names the failure only.
            return HealthCheckResult.Unhealthy($"bus: RabbitMQ is unreachable ({e.GetType().Name})", data: data);
        }
    }
}

public sealed class ProjectionsCheck(ReadinessReader reader, BillingSettings settings) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var lag = await reader.ReadLagAsync(ct);
            var data = new Dictionary<string, object> { ["lagEvents"] = lag.Events, ["lagSeconds"] = Math.Round(lag.Seconds, 3), ["asyncShards"] = lag.AsyncShards };
            return lag.Seconds > settings.ReadyMaxLagSeconds
                ? HealthCheckResult.Unhealthy($"projection lag {Health.Seconds(lag.Seconds)} s ({lag.Events} events) exceeds BILLING_READY_MAX_LAG_SECONDS={Health.Seconds(settings.ReadyMaxLagSeconds)}", data: data)
                : HealthCheckResult.Healthy(data: data);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or System.Net.Sockets.SocketException or TimeoutException)
        {
            return Health.Failed("projections", e);
        }
    }
}

public sealed class WaitingCheck(ReadinessReader reader, BillingSettings settings) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var waiting = await reader.ReadWaitingAsync(ct);
            var data = new Dictionary<string, object>
            {
                ["records"] = waiting.Records, ["messages"] = waiting.Messages, ["oldestSeconds"] = Math.Round(waiting.OldestSeconds, 3), ["truncated"] = waiting.Truncated,
            };
            return waiting.OldestSeconds > settings.ReadyMaxWaitingSeconds
                ? HealthCheckResult.Unhealthy($"the oldest waiting record has waited {Health.Seconds(waiting.OldestSeconds)} s, more than BILLING_READY_MAX_WAITING_SECONDS={Health.Seconds(settings.ReadyMaxWaitingSeconds)}", data: data)
                : HealthCheckResult.Healthy(data: data);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or System.Net.Sockets.SocketException or TimeoutException)
        {
            return Health.Failed("waiting", e);
        }
    }
}

/// <summary>The depth of every queue where ingest waits: figures only, since a backlog during an import is no fault; unreadable is.</summary>
public sealed class QueuesCheck(ReadinessReader reader) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var queues = await reader.ReadQueuesAsync(ct);
            return HealthCheckResult.Healthy(data: new Dictionary<string, object> { ["transport"] = queues.Transport, ["total"] = queues.Total, ["depths"] = queues.Depths });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return e is NpgsqlException or OperationCanceledException or System.Net.Sockets.SocketException or TimeoutException
                ? Health.Failed("queues", e)
                : HealthCheckResult.Unhealthy($"queues: the broker's queues cannot be read ({e.GetType().Name})");
        }
    }
}

/// <summary>Messages Wolverine parked: nothing retries them, so more than BILLING_READY_MAX_PARKED_MESSAGES (default 0) is unhealthy.</summary>
public sealed class ParkedCheck(ReadinessReader reader, BillingSettings settings) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var parked = await reader.ReadParkedAsync(ct);
            var data = new Dictionary<string, object>
            {
                ["messages"] = parked.Total, ["store"] = parked.Store, ["broker"] = parked.Broker, ["replaying"] = parked.Replaying, ["byType"] = parked.ByType,
            };
            if (parked.Total <= settings.ReadyMaxParkedMessages) return HealthCheckResult.Healthy(data: data);
            var what = parked.ByType.Select(t => $"{t.Value} {t.Key[(t.Key.LastIndexOf('.') + 1)..]}").ToList();
            if (parked.Broker > 0) what.Add($"{parked.Broker} on the broker's {BrokerQueues.DeadLetterQueue}");
            return HealthCheckResult.Unhealthy(
                $"{parked.Total} messages are parked ({string.Join(", ", what)}), more than BILLING_READY_MAX_PARKED_MESSAGES={settings.ReadyMaxParkedMessages}: nothing retries them; billing dead-letters list --messages shows them, replay --messages sends them again",
                data: data);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return e is NpgsqlException or OperationCanceledException or System.Net.Sockets.SocketException or TimeoutException
                ? Health.Failed("parked", e)
                : HealthCheckResult.Unhealthy($"parked: the broker's dead-letter queue cannot be read ({e.GetType().Name})");
        }
    }
}

/// <summary>
/// Due periods not closed yet: unhealthy once one has been due longer than BILLING_READY_MAX_OVERDUE_SECONDS
/// (<see cref="Billing.Invoicing.Closing.PeriodClose.NotClosed"/>), naming each, since when it is due, and its last failed close.
/// </summary>
public sealed class ClosingCheck(ReadinessReader reader, BillingSettings settings) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            var due = await reader.ReadClosingAsync(ct);
            var data = new Dictionary<string, object>
            {
                ["due"] = due.Count,
                ["overdue"] = due.Count(d => d.Overdue),
                ["periods"] = due.Select(d => new Dictionary<string, object?>
                {
                    ["period"] = d.Period.ToString(),
                    ["dueAt"] = Billing.Events.RecordParser.Format(d.DueAt),
                    ["pastDueSeconds"] = Math.Round(d.PastDue.TotalSeconds, 3),
                    ["overdue"] = d.Overdue,
                    ["failures"] = d.Failure?.Failures ?? 0,
                    ["lastFailedAt"] = d.Failure is { } f ? Billing.Events.RecordParser.Format(f.LastFailedAt) : null,
                    ["lastError"] = d.Failure?.LastError,
                }).ToList(),
            };
            var overdue = due.Where(d => d.Overdue).ToList();
            if (overdue.Count == 0) return HealthCheckResult.Healthy(data: data);
            var reasons = overdue.Select(d =>
                $"{d.Period} is due since {Billing.Events.RecordParser.Format(d.DueAt)} and not closed ({Health.Seconds(d.PastDue.TotalSeconds)} s, more than BILLING_READY_MAX_OVERDUE_SECONDS={Health.Seconds(settings.ReadyMaxOverdueSeconds)}); " +
                (d.Failure is { } f
                    ? $"its close failed {f.Failures} times, last at {Billing.Events.RecordParser.Format(f.LastFailedAt)}: {f.LastError}"
                    : "no close of it has failed: is a serve node running the schedule?"));
            return HealthCheckResult.Unhealthy(string.Join("; ", reasons), data: data);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Health.Failed("closing", e);
        }
    }
}
