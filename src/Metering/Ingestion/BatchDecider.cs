using Billing.Events;
using NodaTime;

namespace Billing.Metering.Ingestion;

/// <summary>A batch after parsing, with the ids, endpoints and accounts whose state the decision needs.</summary>
public sealed record ParsedBatch(IReadOnlyList<IncomingRecord> Records, IReadOnlyList<ParseResult> Parsed)
{
    public static ParsedBatch Parse(IReadOnlyList<IncomingRecord> records, ParseContext context) =>
        new(records, records.Select(r => RecordParser.Parse(r.Json, context)).ToList());

    IEnumerable<IUsageRecord> Valid => Parsed.Where(p => p.IsValid).Select(p => p.Record!);
    public IReadOnlyList<string> RecordIds => Valid.Select(r => r.Id).Distinct().ToList();
    public IReadOnlyList<string> EndpointIds => Valid.OfType<IEndpointRecord>().Select(r => r.EndpointId).Distinct().ToList();
    public IReadOnlyList<string> AccountIds => Valid.Select(r => r switch
    {
        AccountOpened a => a.AccountId,
        AccountAddressChanged a => a.AccountId,
        _ => null,
    }).OfType<string>().Distinct().ToList();
}

/// <summary>What to write for a batch: events per stream, new record ids, dead letters, and the
/// records to try again later. Produced by <see cref="BatchDecider"/>, written by the ingestor.</summary>
public sealed class BatchPlan
{
    public List<RecordOutcome> Outcomes { get; } = [];
    public List<(string Id, byte[] Fingerprint)> AcceptedIds { get; } = [];
    public Dictionary<string, List<object>> EndpointEvents { get; } = [];
    public HashSet<string> NewEndpoints { get; } = [];
    public Dictionary<string, List<object>> AccountEvents { get; } = [];
    public HashSet<string> NewAccounts { get; } = [];
    public Dictionary<string, List<TrafficProcessed>> TrafficByEndpoint { get; } = [];
    public List<DeadLetter> DeadLetters { get; } = [];
    public List<IncomingRecord> Waiting { get; } = [];

    public int Count(RecordStatus status) => Outcomes.Count(o => o.Status == status);
}

/// <summary>
/// Decides every record of a batch (spec section 8): refuse invalid ones with their reason,
/// acknowledge duplicates, refuse an id re-used with other content, let records that need an
/// event still in flight wait (up to the retry window), accept the rest. Pure: the database
/// state it needs is passed in, so any arrival order of the same records decides alike.
/// </summary>
public static class BatchDecider
{
    public static BatchPlan Decide(
        ParsedBatch batch,
        Instant now,
        Duration retryWindow,
        IReadOnlyDictionary<string, byte[]> knownFingerprints,
        IDictionary<string, EndpointTimeline> timelines,
        ISet<string> openedAccounts)
    {
        var plan = new BatchPlan();
        var seen = new Dictionary<string, byte[]>(knownFingerprints);

        // Accounts first, then endpoint lifecycle in event time (creations first), then traffic:
        // within a batch, the order of arrival never changes a decision.
        var order = Enumerable.Range(0, batch.Records.Count)
            .OrderBy(i => Rank(batch.Parsed[i].Record))
            .ThenBy(i => batch.Parsed[i].Record?.At ?? default)
            .ThenBy(i => i);

        foreach (var i in order)
        {
            var incoming = batch.Records[i];
            var parsed = batch.Parsed[i];
            if (parsed.Record is not { } record)
            {
                Reject(i, incoming, parsed.RecordId, parsed.Error!);
                continue;
            }

            var fingerprint = RecordJson.Fingerprint(record);
            if (seen.TryGetValue(record.Id, out var known))
            {
                if (known.AsSpan().SequenceEqual(fingerprint)) plan.Outcomes.Add(new(i, record.Id, RecordStatus.Duplicate, null));
                else Reject(i, incoming, record.Id, new RecordError("duplicate-conflict", $"id '{record.Id}' was already accepted with different content"));
                continue;
            }

            // Decided and stored as recorded now: the late window reads from it which periods' charges the fact may change.
            var decision = Decide(Recorded.At(record, now), plan, timelines, openedAccounts);
            switch (decision.Kind)
            {
                case DecisionKind.Accept:
                    seen[record.Id] = fingerprint;
                    plan.AcceptedIds.Add((record.Id, fingerprint));
                    plan.Outcomes.Add(new(i, record.Id, RecordStatus.Accepted, null));
                    break;
                case DecisionKind.Refuse:
                    Reject(i, incoming, record.Id, decision.Reason!);
                    break;
                case DecisionKind.Wait when now - incoming.FirstSeenAt >= retryWindow:
                    var waited = (int)Math.Round((now - incoming.FirstSeenAt).TotalMinutes);
                    Reject(i, incoming, record.Id, decision.Reason! with { Message = $"{decision.Reason!.Message} (still so after waiting {waited} min)" });
                    break;
                case DecisionKind.Wait:
                    plan.Waiting.Add(incoming);
                    plan.Outcomes.Add(new(i, record.Id, RecordStatus.Pending, decision.Reason));
                    break;
            }
        }

        plan.Outcomes.Sort((a, b) => a.Index.CompareTo(b.Index));
        return plan;

        void Reject(int index, IncomingRecord incoming, string? id, RecordError reason)
        {
            plan.Outcomes.Add(new(index, id, RecordStatus.Rejected, reason));
            plan.DeadLetters.Add(new DeadLetter
            {
                Id = Guid.CreateVersion7(),
                RecordId = id,
                Code = reason.Code,
                Reason = reason.Message,
                Json = incoming.Json,
                ArrivedAt = incoming.FirstSeenAt,
                DeadLetteredAt = now,
            });
        }
    }

    static int Rank(IUsageRecord? record) => record switch
    {
        null => 0,
        AccountOpened => 1,
        AccountAddressChanged => 2,
        EndpointCreated => 3,
        TrafficProcessed => 5,
        _ => 4,
    };

    static Decision Decide(IUsageRecord record, BatchPlan plan, IDictionary<string, EndpointTimeline> timelines, ISet<string> openedAccounts)
    {
        switch (record)
        {
            case AccountOpened a when openedAccounts.Contains(a.AccountId):
                return Decision.Refuse("duplicate-opening", $"account {a.AccountId} was already opened");
            case AccountOpened a:
                openedAccounts.Add(a.AccountId);
                plan.NewAccounts.Add(a.AccountId);
                Add(plan.AccountEvents, a.AccountId, a);
                return Decision.Accept;
            case AccountAddressChanged a when !openedAccounts.Contains(a.AccountId):
                return Decision.Wait("unknown-account", $"account {a.AccountId} has not been opened");
            case AccountAddressChanged a:
                Add(plan.AccountEvents, a.AccountId, a);
                return Decision.Accept;
            case EndpointCreated c when !timelines.ContainsKey(c.EndpointId):
                timelines[c.EndpointId] = EndpointTimeline.Create(c);
                plan.NewEndpoints.Add(c.EndpointId);
                Add(plan.EndpointEvents, c.EndpointId, c);
                return Decision.Accept;
            case IEndpointRecord e when !timelines.TryGetValue(e.EndpointId, out _):
                return Decision.Wait("unknown-endpoint", $"endpoint {e.EndpointId} is not known (no endpoint.created)");
            case IEndpointRecord e:
                var timeline = timelines[e.EndpointId];
                var decision = timeline.Decide(e);
                if (decision.Kind != DecisionKind.Accept) return decision;
                if (e is TrafficProcessed t) Add(plan.TrafficByEndpoint, t.EndpointId, t);
                else
                {
                    timeline.Include(e);
                    Add(plan.EndpointEvents, e.EndpointId, e);
                }
                return decision;
            default:
                throw new ArgumentOutOfRangeException(nameof(record), record.GetType().Name);
        }
    }

    static void Add<T>(Dictionary<string, List<T>> map, string key, T value)
    {
        if (!map.TryGetValue(key, out var list)) map[key] = list = [];
        list.Add(value);
    }
}
