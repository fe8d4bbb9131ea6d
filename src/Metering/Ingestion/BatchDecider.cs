using Billing.Events;
using Billing.Metering.Accounts;
using NodaTime;

namespace Billing.Metering.Ingestion;

/// <summary>
/// A batch after parsing (at <see cref="Now"/>), with the ids, endpoints and accounts whose state the
/// decision needs. <see cref="OldestAccepted"/> is the start of the oldest period still open to traffic
/// (<see cref="ParseContext.OldestAccepted"/>): older traffic is never accepted, nor un-billed.
/// </summary>
public sealed record ParsedBatch(IReadOnlyList<IncomingRecord> Records, IReadOnlyList<ParseResult> Parsed, Instant Now, Instant? OldestAccepted = null)
{
    public static ParsedBatch Parse(IReadOnlyList<IncomingRecord> records, ParseContext context)
    {
        var parsed = new ParseResult[records.Count];
        for (var i = 0; i < records.Count; i++) parsed[i] = RecordParser.Parse(records[i].Json, context);
        return new ParsedBatch(records, parsed, context.Now, context.OldestAccepted);
    }

    /// <summary>Whether a lifecycle record changes an endpoint's stays: an AZ added or removed, a deletion.</summary>
    public static bool ChangesStays(IUsageRecord record) => record is EndpointAzAdded or EndpointAzRemoved or EndpointDeleted;

    /// <summary>The batch's records that change stays, if accepted: their stored traffic is what they may move (<see cref="TrafficInStays"/>).</summary>
    public IEnumerable<IEndpointRecord> StayChanges => Valid.Where(ChangesStays).Cast<IEndpointRecord>();

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
/// accepted before, the timelines of its endpoints, and which of its accounts are opened. For the
/// endpoints whose stays the batch changes: their stored <see cref="Traffic"/> from the earliest change
/// on (with the fingerprints of its un-billed records' ids among <see cref="KnownFingerprints"/>), and
/// the un-billed records' dead letters not replayed yet, by record id (<see cref="UnbilledLetters"/>).
/// </summary>
public sealed record IngestState(
    IReadOnlyDictionary<string, byte[]> KnownFingerprints,
    IReadOnlyDictionary<string, EndpointTimeline> Timelines,
    IReadOnlySet<string> OpenedAccounts,
    IReadOnlyDictionary<string, StoredTraffic>? Traffic = null,
    IReadOnlyDictionary<string, IReadOnlyList<DeadLetter>>? UnbilledLetters = null);

/// <summary>Events for one stream: appended, or starting it when <see cref="IsNew"/>.</summary>
public sealed record StreamEvents(string Key, Type Aggregate, bool IsNew, IReadOnlyList<object> Events);

/// <summary>
/// What to write for a batch: each record's outcome, the new record ids, the events of each
/// stream, the accepted traffic, the dead letters, the records to try again later, and the
/// endpoint timelines the batch created or changed. Produced by <see cref="BatchDecider"/>.
/// <see cref="StayMoves"/> are the <see cref="TrafficUnbilled"/> and <see cref="TrafficRebilled"/>
/// events of traffic stored earlier that the batch's lifecycle records moved; <see cref="FreedIds"/>
/// the ids of the traffic un-billed, no longer accepted ones (each is a dead letter now).
/// </summary>
public sealed record BatchDecision(
    IReadOnlyList<RecordOutcome> Outcomes,
    IReadOnlyList<(string Id, byte[] Fingerprint)> AcceptedIds,
    IReadOnlyList<StreamEvents> Streams,
    IReadOnlyList<TrafficProcessed> Traffic,
    IReadOnlyList<DeadLetter> DeadLetters,
    IReadOnlyList<IncomingRecord> Waiting,
    IReadOnlyDictionary<string, EndpointTimeline> Timelines,
    IReadOnlyList<object>? StayMoves = null,
    IReadOnlyList<(string Id, byte[] Fingerprint)>? FreedIds = null)
{
    public int Count(RecordStatus status) => Outcomes.Count(o => o.Status == status);
}

/// <summary>
/// Decides every record of a batch (spec section 8): refuse invalid ones with their reason,
/// acknowledge duplicates, refuse an id re-used with other content, let records that need an
/// event still in flight wait (up to the retry window), accept the rest. Pure: the stored state it
/// needs is passed in and never changed (what the batch itself creates is kept aside), so any
/// arrival order of the same records decides alike. Traffic stored earlier whose stay the batch's
/// lifecycle records end is un-billed, and un-billed traffic they put inside a stay again is billed
/// again (<see cref="TrafficInStays"/>), before the batch's own traffic is decided: as if every
/// record had arrived after the lifecycle records.
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
        // Ids of traffic the batch un-billed: accepted no longer, so a copy of one in the batch is decided afresh.
        var freed = new HashSet<string>(StringComparer.Ordinal);
        var freedIds = new List<(string, byte[])>();
        var stayMoves = new List<object>();
        var judged = false;

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
            // Every lifecycle record is decided by now (traffic comes last): the stays are final for this batch.
            if (!judged && parsed.Record is TrafficProcessed)
            {
                MoveStoredTraffic();
                judged = true;
            }
            if (parsed.Record is not { } record)
            {
                Reject(i, incoming, parsed.RecordId, parsed.Error!);
                continue;
            }

            var fingerprint = RecordJson.Fingerprint(record);
            if (seen.TryGetValue(record.Id, out var known) || (!freed.Contains(record.Id) && state.KnownFingerprints.TryGetValue(record.Id, out known)))
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

        if (!judged) MoveStoredTraffic();

        outcomes.Sort((a, b) => a.Index.CompareTo(b.Index));
        return new BatchDecision(outcomes, acceptedIds, batchState.Streams(), traffic, deadLetters, waiting, batchState.Changed, stayMoves, freedIds);

        // Un-bills stored traffic the batch's lifecycle records put outside every stay, bills again what they put back inside one.
        void MoveStoredTraffic()
        {
            if (state.Traffic is not { Count: > 0 } stored) return;
            foreach (var (endpoint, changes) in batchState.StayChanges)
            {
                if (!stored.TryGetValue(endpoint, out var storedTraffic) || !state.Timelines.TryGetValue(endpoint, out var before)) continue;
                var moves = TrafficInStays.Judge(before, batchState.TimelineOf(endpoint)!, changes, storedTraffic, batch.OldestAccepted);
                foreach (var (by, moved) in moves.Unbilled)
                {
                    stayMoves.Add(new TrafficUnbilled(endpoint, by, moved.Select(t => t.Record).ToList()));
                    foreach (var t in moved)
                    {
                        freed.Add(t.Record.Id);
                        freedIds.Add((t.Record.Id, RecordJson.Fingerprint(t.Record)));
                        deadLetters.Add(new DeadLetter
                        {
                            Id = Guid.CreateVersion7(),
                            RecordId = t.Record.Id,
                            Code = AfterStayEnd,
                            Reason = $"{by} ended endpoint {endpoint}'s stay in {t.Record.AzId} before this traffic at {RecordParser.Format(t.Record.At)}: " +
                                "it arrived after the traffic was accepted, so the traffic is no longer billed",
                            Json = RecordJson.Serialize(t.Record),
                            // The instant it became a rejected record: a traffic record's own arrival is not stored.
                            ArrivedAt = now,
                            DeadLetteredAt = now,
                            SentBy = t.SentBy,
                        });
                    }
                }
                foreach (var (by, moved) in moves.Rebilled)
                {
                    var billed = new List<TrafficProcessed>();
                    foreach (var t in moved)
                    {
                        // An id taken meanwhile (sent again and accepted, or by other content) stays as it is.
                        if (seen.ContainsKey(t.Record.Id) || state.KnownFingerprints.ContainsKey(t.Record.Id)) continue;
                        var fingerprint = RecordJson.Fingerprint(t.Record);
                        seen[t.Record.Id] = fingerprint;
                        acceptedIds.Add((t.Record.Id, fingerprint));
                        billed.Add(t.Record);
                        var json = RecordJson.Serialize(t.Record);
                        foreach (var letter in state.UnbilledLetters?.GetValueOrDefault(t.Record.Id) ?? [])
                            if (letter.Json == json) deadLetters.Add(letter.ReplayedNow(now, sentBy));
                    }
                    if (billed.Count > 0) stayMoves.Add(new TrafficRebilled(endpoint, by, billed));
                }
            }
        }

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

    /// <summary>The code of traffic un-billed because a stay's end arrived after it (spec 8, v1.2).</summary>
    public const string AfterStayEnd = "after-stay-end";

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
        readonly Dictionary<string, List<IEndpointRecord>> _stayChanges = new(StringComparer.Ordinal);

        public IReadOnlyDictionary<string, EndpointTimeline> Changed => _changed;

        /// <summary>The accepted records that changed the stays of endpoints stored before the batch, per endpoint.</summary>
        public IEnumerable<(string Endpoint, IReadOnlyList<IEndpointRecord> Changes)> StayChanges =>
            _stayChanges.Select(kv => (kv.Key, (IReadOnlyList<IEndpointRecord>)kv.Value));

        public EndpointTimeline? TimelineOf(string endpoint) => Timeline(endpoint);

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
                        if (ParsedBatch.ChangesStays(e) && stored.Timelines.ContainsKey(e.EndpointId))
                        {
                            if (!_stayChanges.TryGetValue(e.EndpointId, out var changes)) _stayChanges[e.EndpointId] = changes = [];
                            changes.Add(e);
                        }
                    }
                    return decision;
                default:
                    throw new ArgumentOutOfRangeException(nameof(record), record.GetType().Name);
            }
        }
    }
}
