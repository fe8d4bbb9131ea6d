using Billing.Events;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Ingesting;

public class BatchDeciderTests
{
    static readonly Instant Now = Instant.FromUtc(2026, 11, 1, 0, 0);
    static readonly ParseContext Context = new(Now, new HashSet<string> { "us-east-1" });
    const string E = "vpce-0a1b2c3d4e5f60718";
    const string A = "111122223333";

    static BatchDecision Decide(IEnumerable<string> lines, Dictionary<string, EndpointTimeline>? timelines = null, Instant? firstSeen = null,
        IReadOnlyDictionary<string, byte[]>? known = null) =>
        Deciding.Decide(lines, Context, timelines, firstSeen, known);

    static (RecordStatus, string?) Outcome(BatchDecision plan, int index) => (plan.Outcomes[index].Status, plan.Outcomes[index].Reason?.Code);

    [Fact]
    public void A_duplicate_in_the_same_batch_is_acknowledged_and_a_changed_one_is_a_conflict()
    {
        var created = Records.Created("c", "2026-10-01T10:00:00Z", E, A, "us-east-1", "Interface", "use1-az1");
        var plan = Decide([created, created, Records.Created("c", "2026-10-01T10:00:00Z", E, A, "us-east-1", "Interface", "use1-az2")]);
        Assert.Equal((RecordStatus.Accepted, null), Outcome(plan, 0));
        Assert.Equal((RecordStatus.Duplicate, null), Outcome(plan, 1));
        Assert.Equal((RecordStatus.Rejected, "duplicate-conflict"), Outcome(plan, 2));
        Assert.Single(plan.AcceptedIds);
        Assert.Equal("duplicate-conflict", Assert.Single(plan.DeadLetters).Code);
    }

    [Fact]
    public void An_id_accepted_in_an_earlier_batch_is_a_duplicate_forever()
    {
        var line = Records.Accepted("old-id", "2026-10-01T10:00:00Z", E);
        var parsed = RecordParser.Parse(line, Context).Record!;
        var plan = Decide([line], known: new Dictionary<string, byte[]> { ["old-id"] = RecordJson.Fingerprint(parsed) });
        Assert.Equal((RecordStatus.Duplicate, null), Outcome(plan, 0));
        Assert.Empty(plan.Streams);
    }

    [Fact]
    public void Records_about_an_unknown_endpoint_wait_then_are_dead_lettered_after_the_window()
    {
        var traffic = Records.Traffic("t", "2026-10-01T10:05:00Z", E, "use1-az1", null, 1);
        var waiting = Decide([traffic]);
        Assert.Equal((RecordStatus.Pending, "unknown-endpoint"), Outcome(waiting, 0));
        Assert.Single(waiting.Waiting);
        Assert.Empty(waiting.DeadLetters);

        var expired = Decide([traffic], firstSeen: Now - Duration.FromMinutes(10));
        Assert.Equal((RecordStatus.Rejected, "unknown-endpoint"), Outcome(expired, 0));
        Assert.Contains("still so after waiting 10 min", expired.DeadLetters[0].Reason);
        Assert.Equal(traffic, expired.DeadLetters[0].Json);
    }

    [Fact]
    public void Lifecycle_before_creation_after_deletion_and_a_second_creation_are_refused()
    {
        var timelines = new Dictionary<string, EndpointTimeline>();
        var setup = Decide([
            Records.Created("c", "2026-10-01T10:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"),
            Records.Deleted("d", "2026-10-05T00:00:00Z", E)], timelines);
        Assert.All(setup.Outcomes, o => Assert.Equal(RecordStatus.Accepted, o.Status));

        var plan = Decide([
            Records.AzAdded("x1", "2026-09-30T00:00:00Z", E, "use1-az2"),
            Records.AzAdded("x2", "2026-10-06T00:00:00Z", E, "use1-az2"),
            Records.Created("x3", "2026-10-02T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"),
            Records.Traffic("x4", "2026-10-05T00:00:00Z", E, "use1-az1", null, 5),
            Records.Traffic("x5", "2026-10-04T23:59:59Z", E, "use1-az1", null, 5),
            Records.Traffic("x6", "2026-10-04T00:00:00Z", E, "use1-az2", null, 5),
            Records.AzAdded("x7", "2026-10-02T00:00:00Z", E, "euw1-az1"),
        ], timelines);
        Assert.Equal((RecordStatus.Rejected, "before-creation"), Outcome(plan, 0));
        Assert.Equal((RecordStatus.Rejected, "after-deletion"), Outcome(plan, 1));
        Assert.Equal((RecordStatus.Rejected, "duplicate-creation"), Outcome(plan, 2));
        Assert.Equal((RecordStatus.Rejected, "after-deletion"), Outcome(plan, 3));
        Assert.Equal((RecordStatus.Accepted, null), Outcome(plan, 4));
        Assert.Equal((RecordStatus.Pending, "az-not-provisioned"), Outcome(plan, 5));
        Assert.Equal((RecordStatus.Rejected, "invalid-field"), Outcome(plan, 6));
    }

    [Fact]
    public void Deciding_leaves_the_stored_state_as_it_was_and_returns_what_changed()
    {
        var timelines = new Dictionary<string, EndpointTimeline>();
        Decide([Records.Created("c", "2026-10-01T10:00:00Z", E, A, "us-east-1", "Interface", "use1-az1")], timelines);
        var stored = timelines[E];
        var storedJson = System.Text.Json.JsonSerializer.Serialize(stored);
        var state = new IngestState(new Dictionary<string, byte[]>(), new Dictionary<string, EndpointTimeline>(timelines), new HashSet<string>());
        var lines = new[]
        {
            Records.Opened("o", "2026-10-01T00:00:00Z", A),
            Records.AzAdded("x1", "2026-10-02T00:00:00Z", E, "use1-az2"),
            Records.Traffic("x2", "2026-10-03T00:00:00Z", E, "use1-az2", null, 5),
            Records.Deleted("x3", "2026-10-04T00:00:00Z", E),
        };

        var decision = BatchDecider.Decide(ParsedBatch.Parse(lines.Select(l => new IncomingRecord(l, Now)).ToList(), Context), state, Duration.FromMinutes(10));

        Assert.All(decision.Outcomes, o => Assert.Equal(RecordStatus.Accepted, o.Status));
        Assert.Same(stored, state.Timelines[E]);
        Assert.Equal(storedJson, System.Text.Json.JsonSerializer.Serialize(stored));
        Assert.Empty(state.OpenedAccounts);
        Assert.Empty(state.KnownFingerprints);
        var changed = decision.Timelines[E];
        Assert.NotSame(stored, changed);
        Assert.Equal(["use1-az1", "use1-az2"], changed.AzIds);
        Assert.Equal(Instant.FromUtc(2026, 10, 4, 0, 0), changed.DeletedAt);
        Assert.Equal([(A, true), (E, false)], decision.Streams.Select(s => (s.Key, s.IsNew)));
        Assert.Equal(["x2"], decision.Traffic.Select(t => t.Id));
        Assert.Equal(["o", "x1", "x3", "x2"], decision.AcceptedIds.Select(a => a.Id)); // in decision order: traffic after lifecycle
    }
}
