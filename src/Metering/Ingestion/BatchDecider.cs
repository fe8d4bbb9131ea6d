using Billing.Events;
using Billing.Metering.Accounts;
using NodaTime;

namespace Billing.Metering.Ingestion;

/// <summary>A batch after parsing (at <see cref="Now"/>), with the ids, endpoints and accounts whose state the decision needs.</summary>
public sealed record ParsedBatch(IReadOnlyList<IncomingRecord> Records, IReadOnlyList<ParseResult> Parsed, Instant Now)
{
    public static ParsedBatch Parse(IReadOnlyList<IncomingRecord> records, ParseContext context)
    {
        var parsed = new ParseResult[records.Count];
        for (var i = 0; i < records.Count; i++) parsed[i] = RecordParser.Parse(records[i].Json, context);
        return new ParsedBatch(records, parsed, context.Now);
    }

    IEnumerable<IUsageRecord> Valid => Parsed.Where(p => p.IsValid).Select(p => p.Record!);

    // Each read several times per batch (partitions, locks, loads): listed once.
    IReadOnlyList<string>? _recordIds, _endpointIds, _accountIds;
    public IReadOnlyList<string> RecordIds => _recordIds ??= Valid.Select(r => r.Id).Distinct().ToList();
    public IReadOnlyList<string> EndpointIds => _endpointIds ??= Valid.OfType<IEndpointRecord>().Select(r => r.EndpointId).Distinct().ToList();
    public IReadOnlyList<string> AccountIds => _accountIds ??= Valid.Select(r => r switch
    {
        AccountOpened a => a.AccountId,
        AccountAddressChanged a => a.AccountId,
        _ => null,
    }).OfType<string>().Distinct().ToList();
}

/// <summary>
/// What a batch's decision reads from the store: the content fingerprints of its ids that were
/// accepted before, the timelines of its endpoints, and which of its accounts are opened.
/// </summary>
public sealed record IngestState(
    IReadOnlyDictionary<string, byte[]> KnownFingerprints,
    IReadOnlyDictionary<string, EndpointTimeline> Timelines,
    IReadOnlySet<string> OpenedAccounts);

/// <summary>Events for one stream: appended, or starting it when <see cref="IsNew"/>.</summary>
public sealed record StreamEvents(string Key, Type Aggregate, bool IsNew, IReadOnlyList<object> Events);

/// <summary>
/// What to write for a batch: each record's outcome, the new record ids, the events of each
/// stream, the accepted traffic, the dead letters, the records to try again later, and the
/// endpoint timelines the batch created or changed. Produced by <see cref="BatchDecider"/>.
/// </summary>
public sealed record BatchDecision(
    IReadOnlyList<RecordOutcome> Outcomes,
    IReadOnlyList<(string Id, byte[] Fingerprint)> AcceptedIds,
    IReadOnlyList<StreamEvents> Streams,
    IReadOnlyList<TrafficProcessed> Traffic,
    IReadOnlyList<DeadLetter> DeadLetters,
    IReadOnlyList<IncomingRecord> Waiting,
    IReadOnlyDictionary<string, EndpointTimeline> Timelines)
{
    public int Count(RecordStatus status) => Outcomes.Count(o => o.Status == status);
}

/// <summary>
/// Decides every record of a batch (spec section 8): refuse invalid ones with their reason,
/// acknowledge duplicates, refuse an id re-used with other content, let records that need an
/// event still in flight wait (up to the retry window), accept the rest. Pure: the stored state it
/// needs is passed in and never changed (what the batch itself creates is kept aside), so any
/// arrival order of the same records decides alike.
/// </summary>
public static class BatchDecider
{
    /// <param name="sentBy">who sent the batch (an API key, a CLI user, the broker), recorded on each dead letter</param>
    public static BatchDecision Decide(ParsedBatch batch, IngestState state, Duration retryWindow, string? sentBy = null)
    {
        var now = batch.Now;
        var outcomes = new List<RecordOutcome>(batch.Records.Count);
        var acceptedIds = new List<(string, byte[])>();
        var deadLetters = new List<DeadLetter>();
        var waiting = new List<IncomingRecord>();
        var traffic = new List<TrafficProcessed>();
        var seen = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var batchState = new BatchState(state);

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
            if (seen.TryGetValue(record.Id, out var known) || state.KnownFingerprints.TryGetValue(record.Id, out known))
            {
                if (known.AsSpan().SequenceEqual(fingerprint)) outcomes.Add(new(i, record.Id, RecordStatus.Duplicate, null));
                else Reject(i, incoming, record.Id, new RecordError("duplicate-conflict", $"id '{record.Id}' was already accepted with different content"));
                continue;
            }

            // Decided and stored as recorded now: the late window reads from it which periods' charges the fact may change.
            var decision = batchState.Decide(Recorded.At(record, now), traffic);
            switch (decision.Kind)
            {
                case DecisionKind.Accept:
                    seen[record.Id] = fingerprint;
                    acceptedIds.Add((record.Id, fingerprint));
                    outcomes.Add(new(i, record.Id, RecordStatus.Accepted, null));
                    break;
                case DecisionKind.Refuse:
                    Reject(i, incoming, record.Id, decision.Reason!);
                    break;
                case DecisionKind.Wait when now - incoming.FirstSeenAt >= retryWindow:
                    var waited = (int)Math.Round((now - incoming.FirstSeenAt).TotalMinutes);
                    Reject(i, incoming, record.Id, decision.Reason! with { Message = $"{decision.Reason!.Message} (still so after waiting {waited} min)" });
                    break;
                case DecisionKind.Wait:
                    waiting.Add(incoming);
                    outcomes.Add(new(i, record.Id, RecordStatus.Pending, decision.Reason));
                    break;
            }
        }

        outcomes.Sort((a, b) => a.Index.CompareTo(b.Index));
        return new BatchDecision(outcomes, acceptedIds, batchState.Streams(), traffic, deadLetters, waiting, batchState.Changed);

        void Reject(int index, IncomingRecord incoming, string? id, RecordError reason)
        {
            outcomes.Add(new(index, id, RecordStatus.Rejected, reason));
            deadLetters.Add(new DeadLetter
            {
                Id = Guid.CreateVersion7(),
                RecordId = id,
                Code = reason.Code,
                Reason = reason.Message,
                Json = incoming.Json,
                ArrivedAt = incoming.FirstSeenAt,
                DeadLetteredAt = now,
                SentBy = sentBy,
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

    /// <summary>The stored state seen through what the batch has accepted so far; the stored state itself is left as it was.</summary>
    sealed class BatchState(IngestState stored)
    {
        readonly HashSet<string> _opened = new(StringComparer.Ordinal);
        readonly Dictionary<string, EndpointTimeline> _changed = new(StringComparer.Ordinal);
        readonly Dictionary<string, StreamEvents> _streams = new(StringComparer.Ordinal);
        readonly List<string> _order = [];

        public IReadOnlyDictionary<string, EndpointTimeline> Changed => _changed;

        public List<StreamEvents> Streams() => _order.Select(k => _streams[k]).ToList();

        bool IsOpened(string account) => _opened.Contains(account) || stored.OpenedAccounts.Contains(account);

        EndpointTimeline? Timeline(string endpoint) =>
            _changed.TryGetValue(endpoint, out var t) || stored.Timelines.TryGetValue(endpoint, out t) ? t : null;

        void Add<TAggregate>(string key, bool isNew, object e)
        {
            if (!_streams.TryGetValue(key, out var stream))
            {
                _streams[key] = new StreamEvents(key, typeof(TAggregate), isNew, new List<object> { e });
                _order.Add(key);
            }
            else ((List<object>)stream.Events).Add(e);
        }

        public Decision Decide(IUsageRecord record, List<TrafficProcessed> traffic)
        {
            switch (record)
            {
                case AccountOpened a when IsOpened(a.AccountId):
                    return Decision.Refuse("duplicate-opening", $"account {a.AccountId} was already opened");
                case AccountOpened a:
                    _opened.Add(a.AccountId);
                    Add<AccountProfile>(a.AccountId, isNew: true, a);
                    return Decision.Accept;
                case AccountAddressChanged a when !IsOpened(a.AccountId):
                    return Decision.Wait("unknown-account", $"account {a.AccountId} has not been opened");
                case AccountAddressChanged a:
                    Add<AccountProfile>(a.AccountId, isNew: false, a); // opened in this batch: its new stream is already there
                    return Decision.Accept;
                case EndpointCreated c when Timeline(c.EndpointId) is null:
                    _changed[c.EndpointId] = EndpointTimeline.Create(c);
                    Add<EndpointTimeline>(c.EndpointId, isNew: true, c);
                    return Decision.Accept;
                case IEndpointRecord e:
                    if (Timeline(e.EndpointId) is not { } timeline)
                        return Decision.Wait("unknown-endpoint", $"endpoint {e.EndpointId} is not known (no endpoint.created)");
                    var decision = timeline.Decide(e);
                    if (decision.Kind != DecisionKind.Accept) return decision;
                    if (e is TrafficProcessed t) traffic.Add(t);
                    else
                    {
                        _changed[e.EndpointId] = timeline.With(e);
                        Add<EndpointTimeline>(e.EndpointId, isNew: false, e);
                    }
                    return decision;
                default:
                    throw new ArgumentOutOfRangeException(nameof(record), record.GetType().Name);
            }
        }
    }
}
