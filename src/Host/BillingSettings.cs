using NodaTime;

namespace Billing.Host;

/// <summary>
/// Where the service runs and how patient it is. Read from the environment so the same binary
/// serves the quick start, CI and production:
/// BILLING_DB (Npgsql connection string; default: the project-local cluster of scripts/db.sh, on
/// 127.0.0.1:BILLING_PG_PORT, default 54329),
/// BILLING_URLS (default http://127.0.0.1:5080, loopback only),
/// BILLING_RETRY_WINDOW_MINUTES (default 10), BILLING_RETRY_DELAY_SECONDS (default 30), BILLING_QUEUE_POLL_MS (default 100),
/// BILLING_PRICEBOOK (a price book JSON file; default the book built into the service),
/// BILLING_RABBITMQ (an AMQP URI: producers publish to the broker's queue `usage`; default none, the
/// PostgreSQL queue), BILLING_CLOSE_GRACE_HOURS (default 24), BILLING_LATE_PERIODS (how many closed periods still
/// accept late events; default 3), BILLING_INGEST_PARTITIONS (how many partitions decide records side by
/// side, spread over the running nodes; default 4, the same on every node), BILLING_NODE_STALE_SECONDS
/// (how long a silent node keeps its partitions before a live node takes them; default 20),
/// BILLING_POST_RATE and BILLING_POST_BURST (requests a second each key may post, and the burst it may
/// save up; default 50 and 100), BILLING_MAX_BODY_BYTES (the largest request body; default 16 MiB),
/// BILLING_READY_MAX_LAG_SECONDS (projection lag past which /health/ready is unhealthy; default 300),
/// BILLING_READY_MAX_WAITING_SECONDS (age of the oldest waiting record past which /health/ready is
/// unhealthy; default the retry window plus 5 minutes), BILLING_CLOSE_TICK_SECONDS (how often `serve`'s
/// schedule closes the due periods; default 600, every 10 minutes; it must divide a minute, an hour or
/// a day evenly), BILLING_READY_MAX_OVERDUE_SECONDS (how long a period may stay not closed after it fell
/// due before /health/ready is unhealthy; default three ticks, 1800 s), BILLING_READY_MAX_PARKED_MESSAGES
/// (how many messages Wolverine may have parked before /health/ready is unhealthy; default 0),
/// OTEL_EXPORTER_OTLP_ENDPOINT (traces and metrics are exported over OTLP only when it is set;
/// docs/operations.md) and OTEL_EXPORTER_OTLP_PROTOCOL (grpc, the exporter's default, or http/protobuf),
/// BILLING_JWT_AUTHORITY (an OpenID Connect issuer whose JWTs are accepted beside API keys; default none),
/// BILLING_JWT_AUDIENCE (default billing), BILLING_JWT_ROLE_CLAIM (default billing_role) and
/// BILLING_JWT_ACCOUNT_CLAIM (default billing_account): see docs/jwt.md. BILLING_WEBHOOK_*: see
/// <see cref="Features.Webhooks.WebhookSettings"/> and docs/webhooks.md.
/// Credentials arrive only here, from the environment, and <see cref="ToString"/> never prints them.
/// </summary>
public sealed record BillingSettings(
    string ConnectionString,
    string Urls,
    Duration RetryWindow,
    TimeSpan RetryDelay,
    TimeSpan QueuePollingInterval,
    string? PriceBookPath = null,
    Duration? CloseGraceOverride = null,
    int LatePeriods = 3,
    bool RunDaemon = true,
    bool RunSchedules = false,
    string? RabbitMqUri = null,
    int IngestPartitions = Billing.Metering.Ingestion.UsagePartitions.Default,
    int NodeStaleSeconds = 20,
    double PostsPerSecond = 50,
    int PostBurst = 100,
    long MaxBodyBytes = BillingSettings.DefaultMaxBodyBytes,
    double ReadyMaxLagSeconds = 300,
    double? ReadyMaxWaitingSecondsOverride = null,
    string? OtlpEndpoint = null,
    string? OtlpProtocol = null,
    int CloseTickSeconds = BillingSettings.DefaultCloseTickSeconds,
    double? ReadyMaxOverdueSecondsOverride = null,
    long ReadyMaxParkedMessages = 0,
    int StrandedMessageSeconds = 300,
    string? JwtAuthority = null,
    string JwtAudience = "billing",
    string JwtRoleClaim = "billing_role",
    string JwtAccountClaim = "billing_account",
    Features.Webhooks.WebhookSettings? Webhooks = null)
{
    /// <summary>The schedule closes due periods every 10 minutes unless BILLING_CLOSE_TICK_SECONDS says otherwise.</summary>
    public const int DefaultCloseTickSeconds = 600;

    /// <summary>A full batch of 10,000 records is about 3-4 MB of JSON; four times that leaves room for long ids and addresses.</summary>
    public const long DefaultMaxBodyBytes = 16 * 1024 * 1024;

    /// <summary>The settings without the connection string and the broker's URI, which carry credentials: a log line or an exception that prints the settings leaks nothing.</summary>
    bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"Database = {Redacted.ConnectionString(ConnectionString)}, Urls = {Urls}, RabbitMq = {(RabbitMqUri is null ? "none" : Redacted.Uri(RabbitMqUri))}, ");
        builder.Append($"RetryWindow = {RetryWindow}, RetryDelay = {RetryDelay}, QueuePollingInterval = {QueuePollingInterval}, PriceBookPath = {PriceBookPath}, ");
        builder.Append($"CloseGrace = {CloseGrace}, LatePeriods = {LatePeriods}, RunDaemon = {RunDaemon}, RunSchedules = {RunSchedules}, IngestPartitions = {IngestPartitions}, ");
        builder.Append($"NodeStaleSeconds = {NodeStaleSeconds}, PostsPerSecond = {PostsPerSecond}, PostBurst = {PostBurst}, MaxBodyBytes = {MaxBodyBytes}, ");
        builder.Append($"ReadyMaxLagSeconds = {ReadyMaxLagSeconds}, ReadyMaxWaitingSecondsOverride = {ReadyMaxWaitingSecondsOverride}, ");
        builder.Append($"CloseTickSeconds = {CloseTickSeconds}, ReadyMaxOverdueSeconds = {ReadyMaxOverdueSeconds}, ReadyMaxParkedMessages = {ReadyMaxParkedMessages}, StrandedMessageSeconds = {StrandedMessageSeconds}, ");
        builder.Append($"Otlp = {(OtlpEndpoint is null ? "none" : Redacted.Uri(OtlpEndpoint))}, OtlpProtocol = {OtlpProtocol ?? "default"}, ");
        builder.Append($"JwtAuthority = {JwtAuthority ?? "none"}, JwtAudience = {JwtAudience}, JwtRoleClaim = {JwtRoleClaim}, JwtAccountClaim = {JwtAccountClaim}, ");
        builder.Append($"Webhooks = {Webhooks}");
        return true;
    }

    /// <summary>The port of the project-local cluster (scripts/db.sh) when BILLING_PG_PORT is not set.</summary>
    public const int DefaultLocalPort = 54329;

    /// <summary>The project-local cluster's connection string, on <paramref name="pgPort"/> (BILLING_PG_PORT's value) when given, as scripts/db.sh does.</summary>
    public static string LocalDatabase(string? pgPort, string database = "billing") =>
        $"Host=127.0.0.1;Port={LocalPort(pgPort)};Username=postgres;Database={database}";

    /// <summary>BILLING_PG_PORT's value as a port; <see cref="DefaultLocalPort"/> when it is unset or empty.</summary>
    public static int LocalPort(string? pgPort) =>
        string.IsNullOrWhiteSpace(pgPort) ? DefaultLocalPort
        : int.TryParse(pgPort.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535 ? port
        : throw new InvalidOperationException($"BILLING_PG_PORT '{pgPort}' is not a TCP port (1-65535)");

    /// <summary>Which periods still take late traffic and can be recomputed (spec 8).</summary>
    public Billing.Metering.LateWindow LateWindow => new(LatePeriods);

    /// <summary>How long after a period's end it closes by itself (default 24 h).</summary>
    public Duration CloseGrace => CloseGraceOverride ?? Duration.FromHours(24);

    /// <summary>
    /// A waiting record is decided at the latest one retry after the retry window ends; older than the
    /// window plus 5 minutes, its retries are stuck (default 900 s with the default window).
    /// </summary>
    public double ReadyMaxWaitingSeconds => ReadyMaxWaitingSecondsOverride ?? (RetryWindow + Duration.FromMinutes(5)).TotalSeconds;

    /// <summary>
    /// A due period is closed by the first tick after its due time, or by a retry after a failed close
    /// (10 s, 30 s, 1 min, 5 min, then every tick); not closed three ticks later (default 1800 s), its
    /// closes keep failing or nothing ticks.
    /// </summary>
    public double ReadyMaxOverdueSeconds => ReadyMaxOverdueSecondsOverride ?? 3.0 * CloseTickSeconds;

    /// <summary>How often the schedule closes the due periods.</summary>
    public TimeSpan CloseTick => TimeSpan.FromSeconds(CloseTickSeconds);

    public static BillingSettings FromEnvironment()
    {
        string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        return new BillingSettings(
            Env("BILLING_DB") ?? LocalDatabase(Env("BILLING_PG_PORT")),
            Env("BILLING_URLS") ?? "http://127.0.0.1:5080",
            Duration.FromMinutes(double.Parse(Env("BILLING_RETRY_WINDOW_MINUTES") ?? "10", System.Globalization.CultureInfo.InvariantCulture)),
            TimeSpan.FromSeconds(double.Parse(Env("BILLING_RETRY_DELAY_SECONDS") ?? "30", System.Globalization.CultureInfo.InvariantCulture)),
            TimeSpan.FromMilliseconds(double.Parse(Env("BILLING_QUEUE_POLL_MS") ?? "100", System.Globalization.CultureInfo.InvariantCulture)),
            Env("BILLING_PRICEBOOK"),
            Env("BILLING_CLOSE_GRACE_HOURS") is { } grace ? Duration.FromHours(double.Parse(grace, System.Globalization.CultureInfo.InvariantCulture)) : null,
            int.Parse(Env("BILLING_LATE_PERIODS") ?? "3", System.Globalization.CultureInfo.InvariantCulture),
            RabbitMqUri: Env("BILLING_RABBITMQ"),
            IngestPartitions: int.Parse(Env("BILLING_INGEST_PARTITIONS") ?? $"{Billing.Metering.Ingestion.UsagePartitions.Default}", System.Globalization.CultureInfo.InvariantCulture),
            NodeStaleSeconds: int.Parse(Env("BILLING_NODE_STALE_SECONDS") ?? "20", System.Globalization.CultureInfo.InvariantCulture),
            PostsPerSecond: double.Parse(Env("BILLING_POST_RATE") ?? "50", System.Globalization.CultureInfo.InvariantCulture),
            PostBurst: int.Parse(Env("BILLING_POST_BURST") ?? "100", System.Globalization.CultureInfo.InvariantCulture),
            MaxBodyBytes: long.Parse(Env("BILLING_MAX_BODY_BYTES") ?? $"{DefaultMaxBodyBytes}", System.Globalization.CultureInfo.InvariantCulture),
            ReadyMaxLagSeconds: double.Parse(Env("BILLING_READY_MAX_LAG_SECONDS") ?? "300", System.Globalization.CultureInfo.InvariantCulture),
            ReadyMaxWaitingSecondsOverride: Env("BILLING_READY_MAX_WAITING_SECONDS") is { } waiting ? double.Parse(waiting, System.Globalization.CultureInfo.InvariantCulture) : null,
            OtlpEndpoint: Env("OTEL_EXPORTER_OTLP_ENDPOINT"),
            OtlpProtocol: Env("OTEL_EXPORTER_OTLP_PROTOCOL"),
            CloseTickSeconds: int.Parse(Env("BILLING_CLOSE_TICK_SECONDS") ?? $"{DefaultCloseTickSeconds}", System.Globalization.CultureInfo.InvariantCulture),
            ReadyMaxOverdueSecondsOverride: Env("BILLING_READY_MAX_OVERDUE_SECONDS") is { } overdue ? double.Parse(overdue, System.Globalization.CultureInfo.InvariantCulture) : null,
            ReadyMaxParkedMessages: long.Parse(Env("BILLING_READY_MAX_PARKED_MESSAGES") ?? "0", System.Globalization.CultureInfo.InvariantCulture),
            StrandedMessageSeconds: int.Parse(Env("BILLING_STRANDED_MESSAGE_SECONDS") ?? "300", System.Globalization.CultureInfo.InvariantCulture),
            JwtAuthority: Env("BILLING_JWT_AUTHORITY"),
            JwtAudience: Env("BILLING_JWT_AUDIENCE") ?? "billing",
            JwtRoleClaim: Env("BILLING_JWT_ROLE_CLAIM") ?? "billing_role",
            JwtAccountClaim: Env("BILLING_JWT_ACCOUNT_CLAIM") ?? "billing_account",
            Webhooks: Features.Webhooks.WebhookSettings.FromEnvironment());
    }
}

/// <summary>Connection details with their secrets taken out, for anything a person or a log may read.</summary>
public static class Redacted
{
    /// <summary>The host, port, database and user of an Npgsql connection string; never its password.</summary>
    public static string ConnectionString(string connectionString)
    {
        try
        {
            var b = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return $"Host={b.Host};Port={b.Port};Database={b.Database};Username={b.Username}";
        }
        catch (ArgumentException)
        {
            return "(unreadable connection string)";
        }
    }

    /// <summary>An AMQP URI without its user info.</summary>
    public static string Uri(string uri) =>
        System.Uri.TryCreate(uri, UriKind.Absolute, out var u) ? new UriBuilder(u) { UserName = "", Password = "" }.Uri.ToString() : "(unreadable URI)";
}
