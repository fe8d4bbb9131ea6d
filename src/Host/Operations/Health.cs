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
/// schema, the bus, projection lag, waiting records, each against its threshold). Both unauthenticated
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
            .AddCheck<WaitingCheck>("waiting", tags: [Ready], timeout: CheckTimeout);
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
        if (settings.RabbitMqUri is null)
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
