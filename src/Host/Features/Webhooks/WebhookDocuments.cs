using NodaTime;

namespace Billing.Host.Features.Webhooks;

/// <summary>
/// Where a customer receives events: a URL, the event types it wants, optionally one account's events
/// only, and the secret its deliveries are signed with (Standard Webhooks, <c>whsec_</c> + base64 of
/// 32 random bytes). The secret is kept as is: signing needs it, so it cannot be hashed like an API key.
/// Deleting keeps the document (its deliveries still name it) and stops every delivery to it.
/// </summary>
public sealed record WebhookEndpoint
{
    public string Id { get; init; } = "";
    public string Url { get; init; } = "";
    public string? AccountId { get; init; }
    public IReadOnlyList<string> Events { get; init; } = [];
    public string Secret { get; init; } = "";
    public Instant CreatedAt { get; init; }
    public string CreatedBy { get; init; } = "";
    public Instant? DeletedAt { get; init; }
    public string? DeletedBy { get; init; }

    /// <summary>Whether this endpoint is sent <paramref name="e"/>: live, subscribed to its type, and of its account when scoped to one.</summary>
    public bool Receives(BillingEvent e) =>
        DeletedAt is null && Events.Contains(e.Type, StringComparer.Ordinal) && (AccountId is null || string.Equals(AccountId, e.AccountId, StringComparison.Ordinal));
}

/// <summary>
/// One event as webhooks carry it, stored once when it is raised: its webhook-id (<see cref="Id"/>),
/// which every delivery and every retry of it sends, and the exact body that is signed and posted.
/// Its existence also makes raising the same event twice a no-op.
/// </summary>
public sealed record WebhookMessage
{
    public string Id { get; init; } = "";
    public string Type { get; init; } = "";
    public string? AccountId { get; init; }
    public Instant Timestamp { get; init; }
    public string Body { get; init; } = "";
    public Instant RaisedAt { get; init; }
}

/// <summary>
/// One message to one endpoint, with every attempt. A run is the first delivery or a replay: its
/// attempts are retried with exponential backoff until one succeeds or the retry window ends. A replay
/// starts a new run; the retries still scheduled for the old run are dropped when they come due.
/// </summary>
public sealed record WebhookDelivery
{
    public string Id { get; init; } = "";
    public string MessageId { get; init; } = "";
    public string EndpointId { get; init; } = "";
    public string Type { get; init; } = "";
    public string? AccountId { get; init; }
    public Instant CreatedAt { get; init; }
    public string Status { get; init; } = DeliveryStatus.Pending;
    public int Run { get; init; } = 1;
    public Instant RunStartedAt { get; init; }
    public Instant? NextAttemptAt { get; init; }
    public List<WebhookAttempt> Attempts { get; init; } = [];
}

public static class DeliveryStatus
{
    /// <summary>Waiting for its first attempt, or for a retry after failed ones.</summary>
    public const string Pending = "pending";
    public const string Succeeded = "succeeded";
    /// <summary>Given up: the retry window ended, or the endpoint was deleted.</summary>
    public const string Failed = "failed";
}

/// <summary>
/// One POST (or one refusal to make it): stored whatever happened.
/// <see cref="Status"/> is <c>succeeded</c> (a 2xx), <c>failed</c> (another status, a timeout, a
/// network error) or <c>refused</c> (the address is not allowed, or the endpoint is gone).
/// </summary>
public sealed record WebhookAttempt(
    int Run,
    int Attempt,
    string Trigger,
    Instant At,
    string Status,
    int? ResponseCode,
    long DurationMs,
    string? Error,
    string? Response);
