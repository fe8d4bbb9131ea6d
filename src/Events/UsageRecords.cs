using NodaTime;

namespace Billing.Events;

// The public ingestion contract v1 (billing-rules.md section 9). Each JSON record becomes one
// of these immutable records; the same records are the events kept in the event store.
// `Id` is the producer's record id (permanent dedupe key), `At` the event time.

/// <summary>A usage record as posted by a producer.</summary>
public interface IUsageRecord
{
    string Id { get; }
    Instant At { get; }
}

/// <summary>
/// An account or endpoint lifecycle record. <see cref="RecordedAt"/> is when the service accepted
/// it, set on the stored event (never read from a producer's JSON, never part of the contract or
/// of the dedupe fingerprint): the late window (spec 8) decides from it which periods' charges the
/// fact may still change.
/// </summary>
public interface ILifecycleRecord : IUsageRecord
{
    Instant? RecordedAt { get; }
}

/// <summary>An account's billing address; <see cref="Country"/> is an ISO 3166-1 alpha-2 code.</summary>
public sealed record BillingAddress(string Line1, string? Line2, string City, string? PostalCode, string Country);

public sealed record AccountOpened(string Id, Instant At, string AccountId, string Name, BillingAddress BillingAddress) : ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

public sealed record AccountAddressChanged(string Id, Instant At, string AccountId, BillingAddress BillingAddress) : ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

/// <summary>A record about one endpoint's lifecycle or traffic.</summary>
public interface IEndpointRecord : IUsageRecord
{
    string EndpointId { get; }
}

public sealed record EndpointCreated(
    string Id, Instant At, string EndpointId, string AccountId, string Region, string VpcId,
    string ServiceName, EndpointType EndpointType, IReadOnlyList<string> AzIds) : IEndpointRecord, ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

public sealed record EndpointAzAdded(string Id, Instant At, string EndpointId, string AzId) : IEndpointRecord, ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

public sealed record EndpointAzRemoved(string Id, Instant At, string EndpointId, string AzId) : IEndpointRecord, ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

public sealed record EndpointAccepted(string Id, Instant At, string EndpointId) : IEndpointRecord, ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

public sealed record EndpointRejected(string Id, Instant At, string EndpointId) : IEndpointRecord, ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

public sealed record EndpointPayerChanged(string Id, Instant At, string EndpointId, string PayerAccountId) : IEndpointRecord, ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

public sealed record EndpointDeleted(string Id, Instant At, string EndpointId) : IEndpointRecord, ILifecycleRecord
{
    public Instant? RecordedAt { get; init; }
}

/// <summary>
/// <paramref name="Bytes"/> were processed through the endpoint's network interface in
/// <paramref name="AzId"/> at <paramref name="At"/>; <paramref name="SourceAzId"/> is where the
/// traffic came from (absent: on-premises or unknown).
/// </summary>
public sealed record TrafficProcessed(string Id, Instant At, string EndpointId, string AzId, string? SourceAzId, long Bytes) : IEndpointRecord;

/// <summary>
/// The event stored for traffic: the accepted traffic records of one ingested batch, whatever
/// their endpoints. Traffic arrives in the millions, so it is stored in batches, never one
/// stream or one event per record.
/// </summary>
public sealed record TrafficRecorded(IReadOnlyList<TrafficProcessed> Records);

/// <summary>Stamps an accepted lifecycle record with the instant it was recorded (traffic is returned as it is).</summary>
public static class Recorded
{
    public static IUsageRecord At(IUsageRecord record, Instant now) => record switch
    {
        AccountOpened r => r with { RecordedAt = now },
        AccountAddressChanged r => r with { RecordedAt = now },
        EndpointCreated r => r with { RecordedAt = now },
        EndpointAzAdded r => r with { RecordedAt = now },
        EndpointAzRemoved r => r with { RecordedAt = now },
        EndpointAccepted r => r with { RecordedAt = now },
        EndpointRejected r => r with { RecordedAt = now },
        EndpointPayerChanged r => r with { RecordedAt = now },
        EndpointDeleted r => r with { RecordedAt = now },
        _ => record,
    };
}

public enum EndpointType
{
    Interface,
    GatewayLoadBalancer,
    Resource,
    Gateway,
}
