using Billing.Events;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Metering;

/// <summary>
/// Spec 8 (v1.2), without a database: traffic is billed only inside a stay, judged on every fact known.
/// Each scenario is sent in two arrival orders to a <see cref="PureStore"/> (the real decider, loaded and
/// committed as the ingest slice does) and must bill the same; the un-billed records are dead letters
/// <c>after-stay-end</c> naming the record that ended their stay.
/// </summary>
public class TrafficInStaysTests
{
    const string A = "111122223333", B = "444455556666", E = "vpce-0a1b2c3d4e5f60718";
    const long GiB = 1L << 30;
    static readonly BillingPeriod October = new(2026, 10);
    static readonly Instant Now = Instant.FromUtc(2026, 11, 2, 0, 0);

    static readonly string[] Endpoint =
    [
        Records.Opened("o-a", "2026-09-01T00:00:00Z", A),
        Records.Opened("o-b", "2026-09-01T00:00:00Z", B),
        Records.Created("c", "2026-10-02T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1", "use1-az2"),
    ];

    static void AssertSameUsage(PureStore expected, PureStore actual, BillingPeriod period)
    {
        var (e, a) = (expected.UsageJson(period), actual.UsageJson(period));
        Assert.Equal(e, a);
        // The traffic-hours rows, un-billings taken off, give what the events give (usage and invoice verify agree).
        Assert.Equal(a, actual.UsageJson(period, fromRows: true));
        Assert.Equal(e, expected.UsageJson(period, fromRows: true));
    }

    [Fact]
    public void A_deletion_dated_before_accepted_traffic_unbills_it_as_if_the_traffic_had_come_after()
    {
        var traffic = new[]
        {
            Records.Traffic("t-before", "2026-10-03T00:00:00Z", E, "use1-az1", null, GiB),
            Records.Traffic("t-after", "2026-10-05T00:00:00Z", E, "use1-az1", "use1-az2", 10 * GiB),
        };
        var deletion = Records.Deleted("d", "2026-10-04T00:00:00Z", E);

        var trafficFirst = new PureStore(Now);
        trafficFirst.Send(Endpoint);
        Assert.All(trafficFirst.Send(traffic).Outcomes, o => Assert.Equal(RecordStatus.Accepted, o.Status));
        var decision = trafficFirst.Send(deletion);

        Assert.Equal((RecordStatus.Accepted, null), (decision.Outcomes[0].Status, decision.Outcomes[0].Reason));
        var letter = Assert.Single(decision.DeadLetters);
        Assert.Equal(("t-after", "after-stay-end"), (letter.RecordId, letter.Code));
        Assert.Equal("endpoint.deleted 'd' at 2026-10-04T00:00:00Z ended endpoint vpce-0a1b2c3d4e5f60718's stay in use1-az1 before this traffic at 2026-10-05T00:00:00Z: " +
            "it arrived after the traffic was accepted, so the traffic is no longer billed", letter.Reason);
        Assert.Equal(traffic[1], letter.Json); // the record's contract JSON: replayable as it is
        var unbilled = Assert.IsType<TrafficUnbilled>(Assert.Single(decision.StayMoves!));
        Assert.Equal(new StayRecord("d", "endpoint.deleted", Instant.FromUtc(2026, 10, 4, 0, 0)), unbilled.EndedBy);
        Assert.Equal(["t-after"], unbilled.Records.Select(r => r.Id));
        Assert.Equal(["t-after"], decision.FreedIds!.Select(f => f.Id));

        var deletionFirst = new PureStore(Now);
        deletionFirst.Send(Endpoint);
        deletionFirst.Send(deletion);
        var late = deletionFirst.Send(traffic);
        Assert.Equal([(RecordStatus.Accepted, null), (RecordStatus.Rejected, "after-deletion")], late.Outcomes.Select(o => (o.Status, o.Reason?.Code)));

        AssertSameUsage(deletionFirst, trafficFirst, October);
        var usage = trafficFirst.Usage(October)[A];
        Assert.Equal([48, 48], usage.EndpointHours.Select(h => h.Hours)); // both AZs, 2 to 4 October
        Assert.Equal(GiB, Assert.Single(usage.DataProcessed).Bytes);
        Assert.Empty(usage.CrossAz);

        // Its id is no longer accepted: sent again, it is decided afresh and refused, exactly as in the other order.
        var again = trafficFirst.Send(traffic[1]);
        Assert.Equal((RecordStatus.Rejected, "after-deletion"), (again.Outcomes[0].Status, again.Outcomes[0].Reason?.Code));
        AssertSameUsage(deletionFirst, trafficFirst, October);
    }

    [Fact]
    public void An_az_removal_unbills_that_AZs_traffic_from_its_instant_on_and_traffic_at_the_instant_itself()
    {
        var traffic = new[]
        {
            Records.Traffic("az1-before", "2026-10-09T23:59:59Z", E, "use1-az1", null, 1 * GiB),
            Records.Traffic("az1-at", "2026-10-10T00:00:00Z", E, "use1-az1", null, 2 * GiB),
            Records.Traffic("az1-after", "2026-10-12T00:00:00Z", E, "use1-az1", "use1-az2", 4 * GiB),
            Records.Traffic("az2-after", "2026-10-12T00:00:00Z", E, "use1-az2", "use1-az1", 8 * GiB),
        };
        var removal = Records.AzRemoved("r", "2026-10-10T00:00:00Z", E, "use1-az1");

        var trafficFirst = new PureStore(Now);
        trafficFirst.Send(Endpoint);
        trafficFirst.Send(traffic);
        var decision = trafficFirst.Send(removal);
        Assert.Equal(["az1-at", "az1-after"], decision.DeadLetters.Select(l => l.RecordId));
        Assert.All(decision.DeadLetters, l => Assert.Equal("after-stay-end", l.Code));
        Assert.All(decision.DeadLetters, l => Assert.StartsWith("endpoint.az-removed 'r' at 2026-10-10T00:00:00Z ended endpoint vpce-0a1b2c3d4e5f60718's stay in use1-az1", l.Reason));

        // The removal first: traffic after it in az1 waits for an addition, here without a retry window.
        var removalFirst = new PureStore(Now);
        removalFirst.Send(Endpoint);
        removalFirst.Send(removal);
        var late = removalFirst.Send(traffic);
        Assert.Equal(["az1-before", "az2-after"], late.Outcomes.Where(o => o.Status == RecordStatus.Accepted).Select(o => o.RecordId));
        Assert.All(late.DeadLetters, l => Assert.Equal("az-not-provisioned", l.Code));

        AssertSameUsage(removalFirst, trafficFirst, October);
        var usage = trafficFirst.Usage(October)[A];
        Assert.Equal(9 * GiB, Assert.Single(usage.DataProcessed).Bytes);
        Assert.Equal(8 * GiB, Assert.Single(usage.CrossAz).Bytes);
    }

    [Fact]
    public void Traffic_exactly_at_the_deletion_instant_is_outside_the_stay_and_a_second_before_is_inside()
    {
        var traffic = new[]
        {
            Records.Traffic("just-before", "2026-10-04T11:59:59Z", E, "use1-az2", null, 3 * GiB),
            Records.Traffic("at-the-end", "2026-10-04T12:00:00Z", E, "use1-az2", null, 5 * GiB),
        };
        var deletion = Records.Deleted("d", "2026-10-04T12:00:00Z", E);
        var trafficFirst = new PureStore(Now);
        trafficFirst.Send(Endpoint);
        trafficFirst.Send(traffic);
        Assert.Equal(["at-the-end"], trafficFirst.Send(deletion).DeadLetters.Select(l => l.RecordId));

        var deletionFirst = new PureStore(Now);
        deletionFirst.Send(Endpoint);
        deletionFirst.Send(deletion);
        deletionFirst.Send(traffic);
        AssertSameUsage(deletionFirst, trafficFirst, October);
        Assert.Equal(3 * GiB, Assert.Single(trafficFirst.Usage(October)[A].DataProcessed).Bytes); // the hour of 12:00 has no bytes left
    }

    static readonly string[] GapTraffic =
    [
        Records.Traffic("before-gap", "2026-10-05T00:00:00Z", E, "use1-az1", null, 1 * GiB),
        Records.Traffic("in-gap", "2026-10-15T00:00:00Z", E, "use1-az1", null, 2 * GiB),
        Records.Traffic("back-at", "2026-10-20T00:00:00Z", E, "use1-az1", null, 4 * GiB),
        Records.Traffic("after-gap", "2026-10-25T00:00:00Z", E, "use1-az1", "use1-az2", 8 * GiB),
    ];
    static readonly string Removal = Records.AzRemoved("r", "2026-10-10T00:00:00Z", E, "use1-az1");
    static readonly string ReAdd = Records.AzAdded("a", "2026-10-20T00:00:00Z", E, "use1-az1");

    [Fact]
    public void A_removal_then_a_re_add_unbills_only_the_gap_in_any_order()
    {
        // Both known before the traffic.
        var trafficLast = new PureStore(Now);
        trafficLast.Send(Endpoint);
        trafficLast.Send(Removal, ReAdd);
        var decided = trafficLast.Send(GapTraffic);
        Assert.Equal(["in-gap"], decided.Outcomes.Where(o => o.Status == RecordStatus.Rejected).Select(o => o.RecordId));

        // Both arrive after the traffic, in one batch: only the gap is un-billed, named after the removal.
        var together = new PureStore(Now);
        together.Send(Endpoint);
        together.Send(GapTraffic);
        var letter = Assert.Single(together.Send(ReAdd, Removal).DeadLetters);
        Assert.Equal(("in-gap", "after-stay-end"), (letter.RecordId, letter.Code));
        Assert.StartsWith("endpoint.az-removed 'r' at 2026-10-10T00:00:00Z", letter.Reason);

        // The re-add first (a no-op while provisioned), then the removal: the same.
        var reAddFirst = new PureStore(Now);
        reAddFirst.Send(Endpoint);
        reAddFirst.Send(GapTraffic);
        reAddFirst.Send(ReAdd);
        Assert.Equal(["in-gap"], reAddFirst.Send(Removal).DeadLetters.Select(l => l.RecordId));

        AssertSameUsage(trafficLast, together, October);
        AssertSameUsage(trafficLast, reAddFirst, October);
        Assert.Equal(13 * GiB, Assert.Single(trafficLast.Usage(October)[A].DataProcessed).Bytes);
    }

    [Fact]
    public void A_re_add_arriving_after_the_removal_bills_again_what_it_puts_back_inside_a_stay()
    {
        var trafficLast = new PureStore(Now);
        trafficLast.Send(Endpoint);
        trafficLast.Send(Removal, ReAdd);
        trafficLast.Send(GapTraffic);

        var store = new PureStore(Now);
        store.Send(Endpoint);
        store.Send(GapTraffic);
        var removed = store.Send(Removal);
        Assert.Equal(["in-gap", "back-at", "after-gap"], removed.DeadLetters.Select(l => l.RecordId));
        Assert.Equal(GiB, Assert.Single(store.Usage(October)[A].DataProcessed).Bytes);

        store.Now = Now + Duration.FromHours(1);
        var readded = store.Send(ReAdd);
        var rebilled = Assert.IsType<TrafficRebilled>(Assert.Single(readded.StayMoves!));
        Assert.Equal(new StayRecord("a", "endpoint.az-added", Instant.FromUtc(2026, 10, 20, 0, 0)), rebilled.StartedBy);
        Assert.Equal(["back-at", "after-gap"], rebilled.Records.Select(r => r.Id));
        Assert.Equal(["a", "back-at", "after-gap"], readded.AcceptedIds.Select(i => i.Id)); // accepted again: a copy of one is a duplicate
        // Their dead letters are marked replayed by the re-add; the gap's stays a rejected record.
        Assert.Equal(["back-at", "after-gap"], readded.DeadLetters.Select(l => l.RecordId));
        Assert.All(readded.DeadLetters, l => Assert.Equal((store.Now, "test"), (l.ReplayedAt!.Value, l.ReplayedBy)));
        Assert.Equal(["in-gap"], store.Letters.Values.Where(l => l.ReplayedAt is null).Select(l => l.RecordId));

        AssertSameUsage(trafficLast, store, October);
        Assert.Equal(RecordStatus.Duplicate, store.Send(GapTraffic[3]).Outcomes[0].Status);
        // Nothing is moved twice: the same records again change nothing.
        var repeated = store.Send(Removal, ReAdd);
        Assert.All(repeated.Outcomes, o => Assert.Equal(RecordStatus.Duplicate, o.Status));
        Assert.Empty(repeated.StayMoves!);
        AssertSameUsage(trafficLast, store, October);
    }

    [Fact]
    public void A_removal_that_waited_for_its_addition_unbills_on_its_retry_what_was_accepted_meanwhile()
    {
        var addition = Records.AzAdded("a", "2026-10-05T00:00:00Z", E, "use1-az1");
        var removal = Records.AzRemoved("r", "2026-10-06T00:00:00Z", E, "use1-az1");
        var traffic = Records.Traffic("t", "2026-10-07T00:00:00Z", E, "use1-az1", null, GiB);
        string[] created = [Records.Opened("o-a", "2026-09-01T00:00:00Z", A), Records.Created("c", "2026-10-01T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az2")];

        var store = new PureStore(Now, retryWindow: Duration.FromMinutes(10));
        store.Send(created);
        var waiting = store.Send(removal); // not provisioned in az1 yet: waits for the addition in flight
        Assert.Equal((RecordStatus.Pending, "az-not-provisioned"), (waiting.Outcomes[0].Status, waiting.Outcomes[0].Reason?.Code));
        store.Send(addition);
        Assert.Equal(RecordStatus.Accepted, store.Send(traffic).Outcomes[0].Status); // inside [5th, ...) as known now
        store.Now += Duration.FromSeconds(30);
        var retried = store.Retry(waiting);
        Assert.Equal(RecordStatus.Accepted, retried.Outcomes[0].Status);
        Assert.Equal(("t", "after-stay-end"), (retried.DeadLetters.Single().RecordId, retried.DeadLetters.Single().Code));

        var inOrder = new PureStore(Now);
        inOrder.Send(created);
        inOrder.Send(addition, removal);
        inOrder.Send(traffic);
        AssertSameUsage(inOrder, store, October);
        Assert.Empty(store.Usage(October)[A].DataProcessed);
    }

    [Fact]
    public void A_payer_change_dated_before_accepted_traffic_moves_it_to_the_new_payer()
    {
        var traffic = new[]
        {
            Records.Traffic("owner", "2026-10-08T00:10:00Z", E, "use1-az1", "use1-az2", 1 * GiB), // in the hour of the change, before it
            Records.Traffic("payer-1", "2026-10-08T00:45:00Z", E, "use1-az1", "use1-az2", 2 * GiB), // in that hour, after it
            Records.Traffic("payer-2", "2026-10-09T10:00:00Z", E, "use1-az2", null, 4 * GiB),
        };
        var change = Records.PayerChanged("p", "2026-10-08T00:30:00Z", E, B);

        var trafficFirst = new PureStore(Now);
        trafficFirst.Send(Endpoint);
        trafficFirst.Send(traffic);
        Assert.Equal(7 * GiB, trafficFirst.Usage(October)[A].DataProcessed.Sum(d => d.Bytes));
        var moved = trafficFirst.Send(change);
        Assert.Empty(moved.DeadLetters); // nothing un-billed: usage reads the payer from the timeline
        Assert.Empty(moved.StayMoves!);

        var changeFirst = new PureStore(Now);
        changeFirst.Send(Endpoint);
        changeFirst.Send(change);
        changeFirst.Send(traffic);

        AssertSameUsage(changeFirst, trafficFirst, October);
        var usage = trafficFirst.Usage(October);
        Assert.Equal(GiB, Assert.Single(usage[A].DataProcessed).Bytes);
        Assert.Equal(6 * GiB, Assert.Single(usage[B].DataProcessed).Bytes);
        Assert.Equal(3 * GiB, Assert.Single(usage[A].CrossAz).Bytes); // cross-AZ stays the owner's
        Assert.Empty(usage[B].CrossAz);
    }

    [Fact]
    public void A_deletion_dated_in_a_frozen_period_leaves_that_periods_traffic_and_unbills_the_open_ones()
    {
        var store = new PureStore(Instant.FromUtc(2026, 11, 2, 0, 0)); // August is still open
        store.Send(Records.Opened("o-a", "2026-07-01T00:00:00Z", A),
            Records.Created("c", "2026-08-01T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"));
        store.Send(
            Records.Traffic("aug", "2026-08-20T00:00:00Z", E, "use1-az1", null, 1 * GiB),
            Records.Traffic("sep", "2026-09-20T00:00:00Z", E, "use1-az1", null, 2 * GiB),
            Records.Traffic("oct", "2026-10-20T00:00:00Z", E, "use1-az1", null, 4 * GiB));
        var august = new BillingPeriod(2026, 8);
        var augustBefore = store.UsageJson(august);

        store.Now = Instant.FromUtc(2026, 12, 2, 0, 0); // August froze on 1 December
        var decision = store.Send(Records.Deleted("d", "2026-08-10T00:00:00Z", E));
        Assert.Equal(["sep", "oct"], decision.DeadLetters.Select(l => l.RecordId));
        Assert.Equal(augustBefore, store.UsageJson(august));
        Assert.Equal(augustBefore, store.UsageJson(august, fromRows: true));
        Assert.DoesNotContain(A, store.Usage(new BillingPeriod(2026, 9)).Keys);
        Assert.DoesNotContain(A, store.Usage(October).Keys);
    }

    [Fact]
    public void A_copy_of_unbilled_traffic_in_the_batch_of_the_deletion_is_decided_afresh()
    {
        var traffic = Records.Traffic("t", "2026-10-05T00:00:00Z", E, "use1-az1", null, GiB);
        var store = new PureStore(Now);
        store.Send(Endpoint);
        store.Send(traffic);
        var decision = store.Send(traffic, Records.Deleted("d", "2026-10-04T00:00:00Z", E));
        Assert.Equal([(RecordStatus.Rejected, "after-deletion"), (RecordStatus.Accepted, null)], decision.Outcomes.Select(o => (o.Status, o.Reason?.Code)));
        Assert.Equal(["after-deletion", "after-stay-end"], decision.DeadLetters.Select(l => l.Code).Order(StringComparer.Ordinal));
        Assert.DoesNotContain("t", store.Ids.Keys);
    }

    [Fact]
    public void Netted_buckets_keep_exactly_the_keys_that_still_have_a_billed_record()
    {
        var buckets = new List<TrafficBucket>
        {
            new(1, "use1-az1", null, 30, 3),
            new(1, "use1-az1", null, -10, -1), // one of three un-billed
            new(2, "use1-az1", null, 5, 1),
            new(2, "use1-az1", null, -5, -1), // all un-billed: the key goes
            new(3, "use1-az1", null, 0, 1), // a billed record of 0 bytes stays
            new(4, "use1-az1", null, 7), // a row older than the count, its bytes partly un-billed
            new(4, "use1-az1", null, -3, -1),
        };
        Assert.Equal(new TrafficBucket[] { new(1, "use1-az1", null, 20, 2), new(3, "use1-az1", null, 0, 1), new(4, "use1-az1", null, 4, 1) },
            TrafficHours.Net(buckets).OrderBy(b => b.Hour));
    }

    [Fact]
    public void The_ledger_counts_records_in_any_order_of_its_events()
    {
        var t1 = new TrafficProcessed("t1", Instant.FromUtc(2026, 10, 5, 0, 0), E, "use1-az1", null, 1);
        var t2 = new TrafficProcessed("t2", Instant.FromUtc(2026, 10, 6, 0, 0), E, "use1-az1", null, 2);
        var by = new StayRecord("r", "endpoint.az-removed", Instant.FromUtc(2026, 10, 4, 0, 0));
        var back = new StayRecord("a", "endpoint.az-added", Instant.FromUtc(2026, 10, 6, 0, 0));
        object[] events = [new TrafficRecorded([t1, t2]), new TrafficUnbilled(E, by, [t1, t2]), new TrafficRebilled(E, back, [t2])];
        foreach (var order in new object[][] { events, Enumerable.Reverse(events).ToArray(), [events[1], events[0], events[2]] })
            Assert.Equal([t2], TrafficLedger.Billed(order));
        Assert.Equal([t1, t2], TrafficLedger.Billed([new TrafficRecorded([t1]), new TrafficRecorded([t2])]));
    }

    /// <summary>
    /// What ingest keeps between batches, as plain data: timelines, accepted ids, opened accounts, the
    /// traffic events and the dead letters. Each batch is loaded as <c>IngestBatchHandler.LoadAsync</c>
    /// loads it (<see cref="StoredTrafficQuery.WantedBy"/>, <see cref="TrafficLedger.Stored"/>), decided
    /// by <see cref="BatchDecider"/> with no retry window unless given (a record that would wait is refused at once),
    /// and committed as its writes are.
    /// </summary>
    sealed class PureStore(Instant now, Duration? retryWindow = null)
    {
        public Instant Now { get; set; } = now;
        public readonly Dictionary<string, EndpointTimeline> Timelines = new(StringComparer.Ordinal);
        public readonly Dictionary<string, byte[]> Ids = new(StringComparer.Ordinal);
        readonly HashSet<string> _opened = new(StringComparer.Ordinal);
        readonly List<(object Data, long Sequence)> _traffic = [];
        public readonly Dictionary<Guid, DeadLetter> Letters = [];
        static readonly LateWindow Window = LateWindow.Default;

        public BatchDecision Send(params string[] lines) => Send(lines.Select(l => new IncomingRecord(l, Now)).ToList());

        /// <summary>The records a decision let wait, sent again as their retry is.</summary>
        public BatchDecision Retry(BatchDecision waited) => Send(waited.Waiting);

        BatchDecision Send(IReadOnlyList<IncomingRecord> records)
        {
            var context = new ParseContext(Now, new HashSet<string> { "us-east-1" }, Window.OldestOpen(Now).Start);
            var batch = ParsedBatch.Parse(records, context);
            var traffic = StoredTrafficQuery.WantedBy(batch, Timelines).ToDictionary(w => w.EndpointId, w => TrafficLedger.Stored(
                _traffic.SelectMany(e => TrafficLedger.Entries(e.Data).Where(x => x.Record.EndpointId == w.EndpointId).Select(x => (x.Record, x.Count, e.Sequence, (string?)"test"))), w.From));
            var letters = Letters.Values.Where(l => l.Code == BatchDecider.AfterStayEnd && l.ReplayedAt is null)
                .GroupBy(l => l.RecordId!).ToDictionary(g => g.Key, g => (IReadOnlyList<DeadLetter>)g.ToList());
            var state = new IngestState(new Dictionary<string, byte[]>(Ids), new Dictionary<string, EndpointTimeline>(Timelines), new HashSet<string>(_opened), traffic, letters);
            var decision = BatchDecider.Decide(batch, state, retryWindow ?? Duration.Zero, "test");

            foreach (var (id, timeline) in decision.Timelines) Timelines[id] = timeline;
            foreach (var stream in decision.Streams.Where(s => s.IsNew && s.Aggregate == typeof(Billing.Metering.Accounts.AccountProfile))) _opened.Add(stream.Key);
            foreach (var (id, _) in decision.FreedIds ?? []) Ids.Remove(id);
            foreach (var (id, fingerprint) in decision.AcceptedIds) Ids[id] = fingerprint;
            if (decision.Traffic.Count > 0) _traffic.Add((new TrafficRecorded(decision.Traffic), _traffic.Count + 1));
            foreach (var moved in decision.StayMoves ?? []) _traffic.Add((moved, _traffic.Count + 1));
            foreach (var letter in decision.DeadLetters) Letters[letter.Id] = letter;
            return decision;
        }

        /// <summary>
        /// Usage from the traffic events (as invoice verify recomputes it), or from the hour rows the
        /// traffic-hours projection writes for them (as usage queries read it): un-billings as rows taken off.
        /// </summary>
        public Dictionary<string, AccountUsage> Usage(BillingPeriod period, bool fromRows = false)
        {
            var billed = TrafficLedger.Billed(_traffic.Select(e => e.Data));
            var buckets = fromRows ? Rows(period) : Deciding.Buckets(billed, period);
            return UsageCalculator.Compute(new MeteringInput(period, Timelines.Values, buckets, Deciding.Raw(billed), Window));
        }

        public Dictionary<string, string> UsageJson(BillingPeriod period, bool fromRows = false) =>
            Usage(period, fromRows).ToDictionary(kv => kv.Key, kv => QueryUsage.ToJson(kv.Value).ToJsonString());

        Dictionary<string, IReadOnlyList<TrafficBucket>> Rows(BillingPeriod period) =>
            _traffic.SelectMany(e => e.Data switch
                {
                    TrafficRecorded r => TrafficHours.Sum(r.Records),
                    TrafficRebilled r => TrafficHours.Sum(r.Records),
                    TrafficUnbilled u => TrafficHours.Negated(TrafficHours.Sum(u.Records)),
                    _ => [],
                })
                .Where(h => period.Contains(h.Hour))
                .GroupBy(h => h.EndpointId)
                .Select(g => (g.Key, Buckets: g.Select(h => TrafficHours.InPeriod(h, period)).ToList()))
                .Select(x => (x.Key, Buckets: x.Buckets.Any(b => b.Records < 0) ? TrafficHours.Net(x.Buckets) : x.Buckets))
                .Where(x => x.Buckets.Count > 0)
                .ToDictionary(x => x.Key, x => (IReadOnlyList<TrafficBucket>)x.Buckets);
    }
}
