using Billing.Events;
using NodaTime;

namespace Billing.Metering;

/// <summary>
/// Everything known about one VPC endpoint's life, kept as dated facts so that the same events
/// in any arrival order give the same timeline. It decides whether a new record about the
/// endpoint is accepted, refused, or must wait for an event still in flight, and answers where
/// the endpoint was provisioned and who paid at any instant. Built by an inline projection of
/// the endpoint's stream (<see cref="EndpointTimelineProjection"/>).
/// </summary>
public sealed class EndpointTimeline
{
    public string Id { get; set; } = "";
    public string OwnerAccountId { get; set; } = "";
    public string Region { get; set; } = "";
    public EndpointType EndpointType { get; set; }
    public string VpcId { get; set; } = "";
    public string ServiceName { get; set; } = "";
    public Instant CreatedAt { get; set; }
    public Instant? DeletedAt { get; set; }

    /// <summary>When the service recorded the creation and the deletion (see <see cref="LateWindow"/>).</summary>
    public Instant? CreatedRecordedAt { get; set; }
    public Instant? DeletedRecordedAt { get; set; }
    public List<AzChange> AzChanges { get; set; } = [];
    public List<PayerChange> PayerChanges { get; set; } = [];
    public List<AcceptanceChange> AcceptanceChanges { get; set; } = [];

    /// <summary>The owner and every account that has been payer: whose usage this endpoint can appear in.</summary>
    public List<string> Accounts { get; set; } = [];

    public sealed record AzChange(string AzId, Instant At, bool Added, Instant? RecordedAt = null);
    public sealed record PayerChange(Instant At, string PayerAccountId, string RecordId, Instant? RecordedAt = null);
    public sealed record AcceptanceChange(Instant At, string State);

    public static EndpointTimeline Create(EndpointCreated e) => new()
    {
        Id = e.EndpointId,
        OwnerAccountId = e.AccountId,
        Region = e.Region,
        EndpointType = e.EndpointType,
        VpcId = e.VpcId,
        ServiceName = e.ServiceName,
        CreatedAt = e.At,
        CreatedRecordedAt = e.RecordedAt,
        AzChanges = e.AzIds.Select(az => new AzChange(az, e.At, true, e.RecordedAt)).ToList(),
        Accounts = [e.AccountId],
    };

    public void Apply(EndpointAzAdded e)
    {
        AzChanges.Add(new(e.AzId, e.At, true, e.RecordedAt));
        _stays = null;
    }

    public void Apply(EndpointAzRemoved e)
    {
        AzChanges.Add(new(e.AzId, e.At, false, e.RecordedAt));
        _stays = null;
    }
    public void Apply(EndpointAccepted e) => AcceptanceChanges.Add(new(e.At, "accepted"));
    public void Apply(EndpointRejected e) => AcceptanceChanges.Add(new(e.At, "rejected"));
    public void Apply(EndpointDeleted e)
    {
        if (DeletedAt is { } d && d < e.At) return;
        DeletedAt = e.At;
        DeletedRecordedAt = e.RecordedAt;
        _stays = null;
    }

    public void Apply(EndpointPayerChanged e)
    {
        PayerChanges.Add(new(e.At, e.PayerAccountId, e.Id, e.RecordedAt));
        _payersInOrder = null;
        if (!Accounts.Contains(e.PayerAccountId)) Accounts.Add(e.PayerAccountId);
    }

    /// <summary>
    /// A new timeline with an accepted lifecycle record folded in (traffic does not change a
    /// timeline); this one is left as it is, since a decision may still be rolled back.
    /// </summary>
    public EndpointTimeline With(IEndpointRecord record)
    {
        var next = Copy();
        switch (record)
        {
            case EndpointAzAdded e: next.Apply(e); break;
            case EndpointAzRemoved e: next.Apply(e); break;
            case EndpointAccepted e: next.Apply(e); break;
            case EndpointRejected e: next.Apply(e); break;
            case EndpointPayerChanged e: next.Apply(e); break;
            case EndpointDeleted e: next.Apply(e); break;
        }
        return next;
    }

    EndpointTimeline Copy() => new()
    {
        Id = Id,
        OwnerAccountId = OwnerAccountId,
        Region = Region,
        EndpointType = EndpointType,
        VpcId = VpcId,
        ServiceName = ServiceName,
        CreatedAt = CreatedAt,
        CreatedRecordedAt = CreatedRecordedAt,
        DeletedAt = DeletedAt,
        DeletedRecordedAt = DeletedRecordedAt,
        AzChanges = AzChanges.ToList(),
        PayerChanges = PayerChanges.ToList(),
        AcceptanceChanges = AcceptanceChanges.ToList(),
        Accounts = Accounts.ToList(),
    };

    /// <summary>
    /// The timeline as <paramref name="period"/> is charged on it: without the facts recorded after
    /// the period froze (<see cref="LateWindow.CountsIn"/>); null when even the creation was. The
    /// timeline itself when every fact counts, which is the common case.
    /// </summary>
    public EndpointTimeline? AsChargedIn(BillingPeriod period, LateWindow window)
    {
        bool Counts(Instant? recordedAt) => window.CountsIn(period, recordedAt);
        if (!Counts(CreatedRecordedAt)) return null;
        if (Counts(DeletedRecordedAt) && AzChanges.TrueForAll(c => Counts(c.RecordedAt)) && PayerChanges.TrueForAll(c => Counts(c.RecordedAt)))
            return this;
        var deletionCounts = Counts(DeletedRecordedAt);
        var charged = Copy();
        charged.DeletedAt = deletionCounts ? DeletedAt : null;
        charged.DeletedRecordedAt = deletionCounts ? DeletedRecordedAt : null;
        charged.AzChanges = AzChanges.Where(c => Counts(c.RecordedAt)).ToList();
        charged.PayerChanges = PayerChanges.Where(c => Counts(c.RecordedAt)).ToList();
        return charged;
    }

    public string Pool => Pools.Of(EndpointType);

    public IEnumerable<string> AzIds => AzChanges.Select(c => c.AzId).Distinct().Order(StringComparer.Ordinal);

    /// <summary>
    /// The endpoint's stays in <paramref name="azId"/>: half-open intervals from an add to the next
    /// remove, ended by deletion. Facts are read in time order (a remove before an add at the same
    /// instant), never in arrival order.
    /// </summary>
    public IReadOnlyList<Interval> Stays(string azId)
    {
        // Asked for every traffic record a batch decides: computed once per AZ until the facts change.
        _stays ??= [];
        if (!_stays.TryGetValue(azId, out var stays)) _stays[azId] = stays = ComputeStays(azId);
        return stays;
    }

    Dictionary<string, List<Interval>>? _stays;

    List<Interval> ComputeStays(string azId)
    {
        var stays = new List<Interval>();
        Instant? start = null;
        foreach (var change in AzChanges.Where(c => c.AzId == azId).OrderBy(c => c.At).ThenBy(c => c.Added))
        {
            if (change.Added && start is null) start = change.At;
            else if (!change.Added && start is { } s)
            {
                stays.Add(new Interval(s, change.At));
                start = null;
            }
        }
        if (start is { } open) stays.Add(new Interval(open, null));
        if (DeletedAt is not { } deleted) return stays;
        return stays
            .Where(i => i.Start < deleted)
            .Select(i => i.HasEnd && i.End <= deleted ? i : new Interval(i.Start, deleted))
            .ToList();
    }

    public bool IsProvisioned(string azId, Instant at) => Stays(azId).Any(i => i.Contains(at));

    /// <summary>The account paying hourly and data-processing charges at <paramref name="at"/> (spec section 5).</summary>
    public string PayerAt(Instant at)
    {
        if (PayerChanges.Count == 0) return OwnerAccountId; // the common case, asked once per traffic hour
        _payersInOrder ??= PayerChanges.OrderBy(p => p.At).ThenBy(p => p.RecordId, StringComparer.Ordinal).ToList();
        // The last change at or before the instant (asked per billed hour and per traffic hour: no closure).
        for (var i = _payersInOrder.Count - 1; i >= 0; i--)
            if (_payersInOrder[i].At <= at) return _payersInOrder[i].PayerAccountId;
        return OwnerAccountId;
    }

    List<PayerChange>? _payersInOrder;

    /// <summary>
    /// Whether a record about this endpoint is accepted now, refused for good, or waits for an
    /// event that may still be in flight (spec section 8).
    /// </summary>
    public Decision Decide(IEndpointRecord record)
    {
        // Formatted only for a refusal's message: most records are accepted, and formatting an instant cost a microsecond each.
        string At() => RecordParser.Format(record.At);
        if (record is EndpointCreated)
            return Decision.Refuse("duplicate-creation", $"endpoint {Id} was already created at {RecordParser.Format(CreatedAt)}");
        if (record.At < CreatedAt)
            return Decision.Refuse("before-creation", $"'at' {At()} is before endpoint {Id} was created at {RecordParser.Format(CreatedAt)}");
        if (DeletedAt is { } deleted && (record.At >= deleted || record is EndpointDeleted))
            return Decision.Refuse("after-deletion", $"endpoint {Id} was deleted at {RecordParser.Format(deleted)}; 'at' is {At()}");

        // An AZ of another region can never become one of this endpoint's (spec 8, v1.2): refused at once, not waited for.
        if (ForeignAz(record) is { } foreign) return foreign;
        switch (record)
        {
            case EndpointAzRemoved r when !IsProvisioned(r.AzId, r.At):
                return Decision.Wait("az-not-provisioned", $"endpoint {Id} is not known to be provisioned in {r.AzId} at {At()}");
            case TrafficProcessed t when !IsProvisioned(t.AzId, t.At):
                return Decision.Wait("az-not-provisioned", $"endpoint {Id} is not known to be provisioned in {t.AzId} at {At()}");
            default:
                return Decision.Accept;
        }
    }

    // Asked for every traffic record: the region's AZ prefix is worked out once per timeline.
    bool InRegion(string azId) => azId.StartsWith(_azPrefix ??= AvailabilityZones.Prefix(Region) + "-az", StringComparison.Ordinal);

    string? _azPrefix;

    Decision? ForeignAz(IEndpointRecord record)
    {
        var (field, az) = record switch
        {
            EndpointAzAdded a => ("azId", a.AzId),
            EndpointAzRemoved r => ("azId", r.AzId),
            TrafficProcessed t when !InRegion(t.AzId) => ("azId", t.AzId),
            TrafficProcessed { SourceAzId: { } source } => ("sourceAzId", source),
            _ => ("", ""),
        };
        return az.Length == 0 || InRegion(az) ? null
            : Decision.Refuse("invalid-field", $"field '{field}' '{az}' is not an AZ of region {Region}, the region of endpoint {Id}");
    }
}

/// <summary>The answer to a record: accept it, refuse it with a reason, or retry it later.</summary>
public sealed record Decision(DecisionKind Kind, RecordError? Reason)
{
    public static readonly Decision Accept = new(DecisionKind.Accept, null);
    public static Decision Refuse(string code, string message) => new(DecisionKind.Refuse, new RecordError(code, message));
    public static Decision Wait(string code, string message) => new(DecisionKind.Wait, new RecordError(code, message));
}

public enum DecisionKind { Accept, Refuse, Wait }

/// <summary>Data-processing tier pools (spec section 3): each endpoint type is metered in its own pool.</summary>
public static class Pools
{
    public static string Of(EndpointType type) => type.ToString();
}
