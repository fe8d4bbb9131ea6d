using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.RejectedRecords;

/// <summary>
/// The bad-input corpus (bad-records.json) through POST /api/usage/events: every bad record is
/// answered with its own code and reason and dead-lettered verbatim, and never harms the good
/// records of its batch. Each fact reports every mismatch at once.
/// </summary>
public class CorpusHttpTests(CorpusHost fixture) : IClassFixture<CorpusHost>
{
    BillingTestHost Host => fixture.Host;

    [Fact]
    public async Task Every_bad_record_in_one_http_batch_is_rejected_with_its_code_and_reason_and_dead_lettered_verbatim_while_the_good_ones_are_billed()
    {
        var arrival = Host.Clock.GetCurrentInstant();
        var baseAnswer = await PostAsync("[" + string.Join(",", CorpusScenario.Base) + "]");
        Assert.Equal((CorpusScenario.Base.Length, 0, 0, 0), Counts(baseAnswer));

        var entries = BadRecordCorpus.Entries.Where(e => e.FitsInHttpBatch).ToList();
        var mixed = CorpusScenario.Mix(entries);
        var answer = await PostAsync("[" + string.Join(",", mixed.Select(m => m.Text)) + "]");

        var problems = new List<string>();
        var results = answer["results"]!.AsArray();
        if (results.Count != mixed.Count) problems.Add($"{results.Count} results for {mixed.Count} records");
        for (var i = 0; i < Math.Min(results.Count, mixed.Count); i++)
        {
            var r = results[i]!;
            var (status, code, reason, id) = ((string?)r["status"], (string?)r["code"], (string?)r["reason"], (string?)r["id"]);
            if ((int)r["index"]! != i) problems.Add($"result {i} has index {r["index"]}");
            if (mixed[i].Bad is not { } bad)
            {
                var expected = mixed[i].Text == CorpusScenario.Good[^1] ? "duplicate" : "accepted"; // the last good record repeats b-5 exactly
                if (status != expected) problems.Add($"good record {BadRecordCorpus.Clip(mixed[i].Text)}: {status} {code}: {reason} (expected {expected})");
                continue;
            }
            var expectedStatus = bad.Pending ? "pending" : "rejected";
            if (status != expectedStatus || code != bad.Code || reason is null || !reason.Contains(bad.Reason, StringComparison.Ordinal))
                problems.Add($"{bad.Name}: {status} {code}: {reason} (expected {expectedStatus} {bad.Code}: ...{bad.Reason}...)");
            if (id != bad.ExpectedRecordId) problems.Add($"{bad.Name}: answered id '{id}' (expected '{bad.ExpectedRecordId}')");
        }
        var waiting = entries.Count(e => e.Pending);
        var counts = (CorpusScenario.GoodAccepted, CorpusScenario.GoodDuplicates, entries.Count - waiting, waiting);
        if (Counts(answer) != counts) problems.Add($"counts (accepted, duplicates, rejected, pending) {Counts(answer)} (expected {counts})");

        // The waiting records are retried every 200 ms; once the clock has passed the retry window they are dead-lettered.
        Host.Clock.Advance(Duration.FromMinutes(1));
        await fixture.WaitForDeadLettersAsync(entries.Where(e => e.Pending), TimeSpan.FromSeconds(30));
        problems.AddRange(await BadRecordCorpus.CheckDeadLettersAsync(Host.Store, entries, _ => arrival, "http"));
        problems.AddRange(await CorpusScenario.CheckUsageAsync(Host, "http"));

        Assert.True(entries.Count >= 90, $"only {entries.Count} corpus entries fit in an HTTP batch");
        Assert.True(problems.Count == 0, $"{problems.Count} mismatches:\n" + string.Join("\n", problems));
    }

    [Fact]
    public async Task A_malformed_record_makes_its_whole_http_body_unreadable_so_the_request_is_a_400_and_nothing_of_it_is_stored()
    {
        var malformed = BadRecordCorpus.Entries.Where(e => !e.FitsInHttpBatch).ToList();
        Assert.True(malformed.Count >= 10, $"only {malformed.Count} malformed-JSON entries");
        var deadBefore = await fixture.DeadLetterCountAsync();
        var canaries = new List<string>();
        var problems = new List<string>();
        foreach (var entry in malformed)
        {
            var canary = $"canary-{entry.Name}";
            canaries.Add(canary);
            var body = "[" + Records.Traffic(canary, "2026-10-03T00:00:00Z", CorpusScenario.E1, "use1-az1", null, 1) + "," + entry.Record + "]";
            var response = await Host.Http.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.BadRequest || !text.Contains("the body is not valid JSON"))
                problems.Add($"{entry.Name}: {(int)response.StatusCode} {BadRecordCorpus.Clip(text)} (expected 400 'the body is not valid JSON')");
        }
        if (await fixture.AcceptedIdCountAsync(canaries) is var accepted and not 0) problems.Add($"{accepted} good records of refused bodies were accepted");
        if (await fixture.DeadLetterCountAsync() is var deadAfter && deadAfter != deadBefore) problems.Add($"{deadAfter - deadBefore} dead letters from refused bodies");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task An_oversized_or_unreadable_http_body_is_refused_whole_with_a_reason_and_nothing_is_stored()
    {
        var deadBefore = await fixture.DeadLetterCountAsync();
        var ids = Enumerable.Range(0, PostUsageEvents.MaxRecords + 1).Select(i => $"big-{i}").ToList();
        var problems = new List<string>();

        var tooMany = "[" + string.Join(",", ids.Select(id => Records.Traffic(id, "2026-10-04T00:00:00Z", CorpusScenario.E1, "use1-az1", null, 1))) + "]";
        await Expect("10,001 records", new StringContent(tooMany, Encoding.UTF8, "application/json"),
            HttpStatusCode.RequestEntityTooLarge, "the batch has 10001 records; at most 10000 are accepted per request");

        var one = Records.Traffic("unread-1", "2026-10-04T00:00:00Z", CorpusScenario.E1, "use1-az1", null, 1);
        ids.Add("unread-1");
        await Expect("an unterminated array", Json("[" + one), HttpStatusCode.BadRequest, "the body is not valid JSON");
        await Expect("an empty body", Json(""), HttpStatusCode.BadRequest, "the body is not valid JSON");
        await Expect("JSON Lines instead of an array", Json(one + "\n" + one), HttpStatusCode.BadRequest, "the body is not valid JSON");
        await Expect("a single record, not an array", Json(one), HttpStatusCode.BadRequest, "the body must be a JSON array of usage records");
        await Expect("an object of records", Json("{\"records\":[" + one + "]}"), HttpStatusCode.BadRequest, "the body must be a JSON array of usage records");
        var invalidUtf8 = new ByteArrayContent([(byte)'[', 0xFF, 0xFE, (byte)']']);
        invalidUtf8.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        await Expect("bytes that are not UTF-8", invalidUtf8, HttpStatusCode.BadRequest, "the body is not valid JSON");

        if (await fixture.AcceptedIdCountAsync(ids) is var accepted and not 0) problems.Add($"{accepted} records of refused bodies were accepted");
        if (await fixture.DeadLetterCountAsync() is var deadAfter && deadAfter != deadBefore) problems.Add($"{deadAfter - deadBefore} dead letters from refused bodies");
        Assert.True(problems.Count == 0, string.Join("\n", problems));

        async Task Expect(string what, HttpContent content, HttpStatusCode status, string error)
        {
            var response = await Host.Http.PostAsync("/api/usage/events", content);
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != status || !text.Contains(error, StringComparison.Ordinal))
                problems.Add($"{what}: {(int)response.StatusCode} {BadRecordCorpus.Clip(text)} (expected {(int)status} '{error}')");
        }
    }

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    async Task<JsonNode> PostAsync(string body)
    {
        var response = await Host.Http.PostAsync("/api/usage/events", Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    static (int Accepted, int Duplicates, int Rejected, int Pending) Counts(JsonNode answer) =>
        ((int)answer["accepted"]!, (int)answer["duplicates"]!, (int)answer["rejected"]!, (int)answer["pending"]!);
}
