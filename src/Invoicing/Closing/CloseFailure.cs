using Billing.Metering;
using NodaTime;

namespace Billing.Invoicing.Closing;

/// <summary>
/// The failed closes of a period not closed since, kept in the database (one document per period), so
/// every node's readiness sees a close that failed on any node. Written after each failed attempt and
/// deleted in the transaction of the close that succeeds.
/// </summary>
public sealed record CloseFailure
{
    /// <summary>The period, "YYYY-MM".</summary>
    public string Id { get; init; } = "";

    public Instant FirstFailedAt { get; init; }
    public Instant LastFailedAt { get; init; }

    /// <summary>Failed attempts since the period was last closed.</summary>
    public int Failures { get; init; }

    /// <summary>The last attempt's exception: its type and first line, without stack (no customer data is put in it by the service).</summary>
    public string LastError { get; init; } = "";

    /// <summary>Who asked for the failing close ("schedule", "cli:{user}", ...).</summary>
    public string? LastRequestedBy { get; init; }

    /// <summary>When the last attempt's retry is due; null when nobody retries it (a close run by `billing close` fails to its caller).</summary>
    public Instant? NextAttemptAt { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public BillingPeriod Period => BillingPeriod.Parse(Id);

    /// <summary>This failure with one more attempt.</summary>
    public static CloseFailure After(CloseFailure? earlier, BillingPeriod period, Instant now, string error, string? requestedBy, Instant? nextAttemptAt) => new()
    {
        Id = period.ToString(),
        FirstFailedAt = earlier?.FirstFailedAt ?? now,
        LastFailedAt = now,
        Failures = (earlier?.Failures ?? 0) + 1,
        LastError = error,
        LastRequestedBy = requestedBy,
        NextAttemptAt = nextAttemptAt,
    };
}

/// <summary>A due period still not closed: since when it is due, how long past that, and its failed closes if any.</summary>
public sealed record DuePeriod(BillingPeriod Period, Instant DueAt, Duration PastDue, CloseFailure? Failure, bool Overdue);
