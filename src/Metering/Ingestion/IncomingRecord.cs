using Billing.Events;
using NodaTime;

namespace Billing.Metering.Ingestion;

/// <summary>
/// One record as it arrived (the producer's JSON text, kept verbatim for dead letters) and when
/// it first arrived (a record waiting for an event in flight is retried until a window after that).
/// </summary>
public sealed record IncomingRecord(string Json, Instant FirstSeenAt);

public enum RecordStatus { Accepted, Duplicate, Rejected, Pending }

/// <summary>What became of one record of a batch; <see cref="Index"/> is its place in the batch.</summary>
public sealed record RecordOutcome(int Index, string? RecordId, RecordStatus Status, RecordError? Reason);

/// <summary>A record refused for good, with everything needed to show it and to submit it again.</summary>
public sealed class DeadLetter
{
    public Guid Id { get; set; }
    public string? RecordId { get; set; }
    public string Code { get; set; } = "";
    public string Reason { get; set; } = "";
    public string Json { get; set; } = "";
    public Instant ArrivedAt { get; set; }
    public Instant DeadLetteredAt { get; set; }
    public Instant? ReplayedAt { get; set; }

    /// <summary>Who sent the record: "key:{id}:{name}", "cli:{user}" or "broker" (Billing.Host.Access.Actor); null for letters older than keys.</summary>
    public string? SentBy { get; set; }

    /// <summary>Who submitted it again, when it was replayed.</summary>
    public string? ReplayedBy { get; set; }

    /// <summary>A copy marked replayed (the original is left as it is: deciders do not change what they read).</summary>
    public DeadLetter ReplayedNow(Instant at, string? by) => new()
    {
        Id = Id, RecordId = RecordId, Code = Code, Reason = Reason, Json = Json, ArrivedAt = ArrivedAt,
        DeadLetteredAt = DeadLetteredAt, SentBy = SentBy, ReplayedAt = at, ReplayedBy = by,
    };
}
