using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Billing.Events;
using Billing.Metering;
using Billing.Tests.RejectedRecords;
using Billing.Tests.Support;
using NodaTime;
using Xunit.Abstractions;

namespace Billing.Tests.RecordContract;

/// <summary>
/// The single-pass <see cref="RecordParser"/> answers exactly what the JsonDocument parser it
/// replaced (<see cref="ReferenceRecordParser"/>) answered: the same record, or the same error code,
/// message and record id, or the same exception, for the corpus, the contract tests' records and
/// thousands of mutations of them.
/// </summary>
public class RecordParserSinglePassTests(ITestOutputHelper output)
{
    static readonly Instant Now = Instant.FromUtc(2026, 11, 1, 0, 0);

    // As at the corpus's arrival: the late window open, the price book's regions.
    static readonly ParseContext AtArrival = new(Now, new HashSet<string> { "us-east-1", "eu-west-1", "ap-northeast-1" }, LateWindow.Default.OldestOpen(Now).Start);

    // A month earlier, one region, no late window: many of the same records are from the future or in an unknown region.
    static readonly ParseContext Earlier = new(Instant.FromUtc(2026, 10, 1, 11, 0), new HashSet<string> { "us-east-1" });

    static readonly ParseContext[] Contexts = [AtArrival, Earlier];

    const string E = "vpce-0a1b2c3d4e5f60718";
    const string A = "111122223333";

    [Fact]
    public void Every_corpus_record_gets_the_same_answer()
    {
        var inputs = BadRecordCorpus.Entries.Select(e => e.Record).Concat(CorpusScenario.Base).Concat(CorpusScenario.Good).ToList();
        AssertSameAnswers(inputs, "corpus");
        // The corpus says what its entries get; the single pass says it too.
        foreach (var entry in BadRecordCorpus.Entries.Where(e => !e.Pending))
        {
            var parsed = RecordParser.Parse(entry.Record, AtArrival);
            if (parsed.Error is null) continue; // refused later, by the batch decider (state, duplicates)
            Assert.Equal(entry.Code, parsed.Error.Code);
            Assert.Contains(entry.Reason, parsed.Error.Message);
        }
    }

    [Fact]
    public void Every_record_of_the_contract_and_batch_tests_gets_the_same_answer()
    {
        var inputs = ContractInputs().Concat(BatchDeciderInputs()).Concat(OctoberScenario.Lines).ToList();
        AssertSameAnswers(inputs, "contract and batch tests");
    }

    [Fact]
    public void Every_mutation_of_every_record_type_gets_the_same_answer()
    {
        var inputs = Mutations().Distinct(StringComparer.Ordinal).ToList();
        var answers = AssertSameAnswers(inputs, "mutations");
        // The mutations reach every outcome the parser has, and many distinct reasons.
        var codes = answers.Select(a => a.Error?.Code ?? "valid").ToHashSet();
        Assert.Equal(
            new[] { "future-event", "invalid-field", "malformed-json", "missing-field", "too-late", "unknown-region", "unknown-type", "valid" },
            codes.Order(StringComparer.Ordinal));
        var reasons = answers.Select(a => a.Error?.Message).Distinct().Count();
        output.WriteLine($"{inputs.Count} mutations, {reasons} distinct reasons");
        Assert.True(reasons > 1500, $"only {reasons} distinct reasons");
    }

    [Fact]
    public void Random_identifiers_are_judged_as_the_regexes_judged_them()
    {
        // Valid identifiers of each kind, then random edits of them: the hand checks meet the
        // regexes on both sides of every edge (length, alphabet, dashes, a final newline).
        var random = new Random(20261101);
        const string alphabet = "abcdefgz019AZ- \n_.";
        string Hex(int length) => string.Concat(Enumerable.Range(0, length).Select(_ => "0123456789abcdef"[random.Next(16)]));
        string Letters(int length) => string.Concat(Enumerable.Range(0, length).Select(_ => (char)('a' + random.Next(26))));
        string Digits(int length) => string.Concat(Enumerable.Range(0, length).Select(_ => (char)('0' + random.Next(10))));
        string Edit(string value)
        {
            for (var edits = random.Next(0, 3); edits > 0; edits--)
            {
                var at = random.Next(value.Length + 1);
                var c = alphabet[random.Next(alphabet.Length)].ToString();
                value = random.Next(3) switch
                {
                    0 => value.Insert(at, c),
                    1 when at < value.Length => value.Remove(at, 1),
                    _ when at < value.Length => value.Remove(at, 1).Insert(at, c),
                    _ => value + c,
                };
            }
            return random.Next(8) == 0 ? value + "\\n" : value;
        }
        var inputs = new List<string>();
        for (var i = 0; i < 6000; i++)
        {
            var kind = i % 6;
            var value = Edit(kind switch
            {
                0 => "vpce-" + Hex(random.Next(6, 20)),
                1 or 2 => Letters(random.Next(2, 10)) + Digits(random.Next(1, 3)) + "-az" + Digits(random.Next(1, 3)),
                3 => Digits(random.Next(10, 14)),
                4 => Letters(random.Next(1, 6)) + string.Concat(Enumerable.Range(0, random.Next(0, 3)).Select(_ => "-" + Letters(random.Next(1, 10)))) + "-" + Digits(random.Next(0, 3)),
                _ => Letters(random.Next(1, 4)).ToUpperInvariant(),
            });
            inputs.Add(kind switch
            {
                0 => Records.Traffic("t", "2026-10-01T11:05:00Z", value, "use1-az1", null, 1),
                1 => Records.Traffic("t", "2026-10-01T11:05:00Z", E, value, "use1-az2", 1),
                2 => Records.Traffic("t", "2026-10-01T11:05:00Z", E, "use1-az1", value, 1),
                3 => Records.PayerChanged("p", "2026-10-01T11:05:00Z", E, value),
                4 => Records.Created("c", "2026-10-01T10:50:00Z", E, A, value, "Interface", "use1-az1"),
                _ => Records.Opened("o", "2026-10-01T00:00:00Z", A, country: value),
            });
            if (kind == 4) inputs.Add(Records.Created("c", "2026-10-01T10:50:00Z", E, A, "us-east-1", "Interface", value.Length > 0 ? value : "x").Replace("\"vpc-0123456789abcdef0\"", $"\"{Edit("vpc-" + Hex(random.Next(6, 20)))}\""));
        }
        var answers = AssertSameAnswers(inputs, "random identifiers");
        var valid = answers.Count(a => a.IsValid);
        output.WriteLine($"{valid} of {answers.Count} answers valid");
        Assert.InRange(valid, answers.Count / 10, answers.Count * 4 / 5); // both kinds well represented
    }

    [Fact]
    public void The_utf8_overload_answers_what_the_string_overload_answers_for_the_decoded_text()
    {
        var texts = ContractInputs().Concat(BadRecordCorpus.Entries.Select(e => e.Record)).ToList();
        foreach (var text in texts)
            Assert.Equal(Describe(() => RecordParser.Parse(text, AtArrival)), Describe(() => RecordParser.Parse(Encoding.UTF8.GetBytes(text), AtArrival)));
        // Bytes that are not UTF-8 are read as Encoding.UTF8 decodes them: U+FFFD, which an id may not contain.
        var invalid = Encoding.UTF8.GetBytes(Records.Accepted("x\u0001", "2026-10-01T10:51:00Z", E));
        invalid[Array.IndexOf(invalid, (byte)0x01)] = 0xFF;
        var parsed = RecordParser.Parse(invalid, AtArrival);
        Assert.Equal(("invalid-field", "field 'id' must be printable ASCII only", null), (parsed.Error!.Code, parsed.Error.Message, parsed.RecordId));
    }

    // Answers that pin behaviour the equivalence depends on, written out.
    public static TheoryData<string, string?, string?, string?> Pinned => new()
    {
        { Traffic("\"bytes\":1e3"), "invalid-field", "field 'bytes' 1e3 is not an integer literal: a count of bytes has no fraction or exponent (write 1000)", "t-1" },
        { Traffic("\"bytes\":1.0"), "invalid-field", "field 'bytes' 1.0 is not an integer literal: a count of bytes has no fraction or exponent (write 1)", "t-1" },
        { Traffic("\"bytes\":-0.0"), "invalid-field", "field 'bytes' -0.0 is not an integer literal: a count of bytes has no fraction or exponent (write 0)", "t-1" },
        { Traffic("\"bytes\":-0"), null, null, "t-1" },
        { Traffic("\"bytes\":1000000000000000"), null, null, "t-1" },
        { Traffic("\"bytes\":1000000000000001"), "invalid-field", "field 'bytes' 1000000000000001 is above the maximum of 10^15", "t-1" },
        { Traffic("\"bytes\":1e400"), "invalid-field", "field 'bytes' 1e400 is above the maximum of 10^15", "t-1" },
        { Traffic("\"bytes\":-1e400"), "invalid-field", "field 'bytes' -1e400 is negative", "t-1" },
        { Traffic("\"bytes\":0.5e1"), "invalid-field", "field 'bytes' 0.5e1 is not an integer literal: a count of bytes has no fraction or exponent (write 5)", "t-1" },
        { Traffic("\"bytes\":2.50"), "invalid-field", "field 'bytes' 2.50 is not a whole number of bytes", "t-1" },
        { Traffic("\"bytes\":1,\"bytes\":1"), "malformed-json", "the record is not valid JSON: key 'bytes' appears more than once", null },
        { Traffic("\"bytes\":1,\"x\":{\"a\":[{\"b\":1,\"b\":2}]}"), "malformed-json", "the record is not valid JSON: key 'x.a.b' appears more than once", null },
        { Traffic("\"bytes\":1,\"x\":[\"\\ud800\"]"), "invalid-field", "field 'x' contains an unpaired UTF-16 surrogate escape (not valid text)", null },
        { Traffic("\"bytes\":1,\"\\udc00\":1"), "malformed-json", "the record is not valid JSON: a key under '' has an unpaired UTF-16 surrogate escape", null },
        { Traffic("\"bytes\":1,\"\\u0062ytes\":2"), "malformed-json", "the record is not valid JSON: key 'bytes' appears more than once", null },
        // A later syntax error outranks an earlier repeated key: the text is not JSON at all.
        { Traffic("\"bytes\":1,\"bytes\":1,"), "malformed-json", "the record is not valid JSON: The JSON object contains a trailing comma at the end which is not supported in this mode. Change the reader options. LineNumber: 0 | BytePositionInLine: 143.", null },
        // .NET's $ matches before a final newline: an endpoint id may end in one, as it always could.
        { "{\"type\":\"endpoint.accepted\",\"id\":\"x\",\"at\":\"2026-10-01T10:51:00Z\",\"endpointId\":\"vpce-0a1b2c3d4e5f60718\\n\"}", "invalid-field", "field 'endpointId' 'vpce-0a1b2c3d4e5f60718\n' is not valid (expected something like vpce-0a1b2c3d4e5f60718)", "x" },
        { "{\"type\":\"endpoint.accepted\",\"id\":\"x\",\"at\":\"2026-10-01T10:51:00Z\",\"endpointId\":\"vpce-0a1b2c3d4e5f60718\\n\\n\"}", "invalid-field", "field 'endpointId' 'vpce-0a1b2c3d4e5f60718\n\n' is not valid (expected something like vpce-0a1b2c3d4e5f60718)", "x" },
        { "{\"type\":null,\"id\":\"x\"}", "invalid-field", "field 'type' must be a string", "x" },
        { "{\"type\":\"traffic\\u002eprocessed\",\"id\":\"x\"}", "missing-field", "field 'at' is missing", "x" },
        { "{\"type\":\"account.opened\",\"id\":\"a\",\"at\":\"2026-10-01T00:00:00Z\",\"accountId\":\"111122223333\",\"name\":\"X\",\"billingAddress\":{\"line1\":\"a\",\"city\":\"b\",\"country\":\"JP\",\"city\":\"c\"}}", "malformed-json", "the record is not valid JSON: key 'billingAddress.city' appears more than once", null },
        { "{\"type\":\"account.opened\",\"id\":\"a\",\"at\":\"2026-10-01T00:00:00Z\",\"accountId\":\"111122223333\",\"name\":\"X\",\"billingAddress\":{\"line1\":\"\\udbff\",\"city\":\"b\",\"country\":\"JP\"}}", "invalid-field", "field 'billingAddress.line1' contains an unpaired UTF-16 surrogate escape (not valid text)", null },
        { "{\"type\":\"endpoint.created\",\"id\":\"c\",\"at\":\"2026-10-01T10:50:00Z\",\"endpointId\":\"vpce-0a1b2c3d4e5f60718\",\"accountId\":\"111122223333\",\"region\":\"us-east-1\",\"vpcId\":\"vpc-0123456789abcdef0\",\"serviceName\":\"s\",\"endpointType\":\"Interface\",\"azIds\":[\"use1-az1\", {\"a\" : [1, 2]}]}", "invalid-field", "field 'azIds' element {\"a\" : [1, 2]} is not an AZ ID like use1-az1", "c" },
        { "{\"type\":\"endpoint.created\",\"id\":\"c\",\"at\":\"2026-10-01T10:50:00Z\",\"endpointId\":\"vpce-0a1b2c3d4e5f60718\",\"accountId\":\"111122223333\",\"region\":\"us-east-1\",\"vpcId\":\"vpc-0123456789abcdef0\",\"serviceName\":\"s\",\"endpointType\":\"Interface\",\"azIds\":[\"use1\\u002daz1\",\"us-east-1a\"]}", "invalid-field", "field 'azIds' element \"us-east-1a\" is not an AZ ID like use1-az1", "c" },
        { Traffic("\"bytes\":1") + Nest(16), "malformed-json", null, null },
        { "{\"type\":\"traffic.processed\",\"id\":\"t-1\",\"x\":" + Nest(15) + "}", "missing-field", "field 'at' is missing", "t-1" },
    };

    [Theory]
    [MemberData(nameof(Pinned))]
    public void Answers_are_exactly_these(string json, string? code, string? message, string? recordId)
    {
        var parsed = RecordParser.Parse(json, Earlier with { Now = Now });
        Assert.Equal(code, parsed.Error?.Code);
        if (message is not null) Assert.Equal(message, parsed.Error?.Message);
        Assert.Equal(recordId, parsed.RecordId);
        Assert.Equal(Describe(() => ReferenceRecordParser.Parse(json, Earlier with { Now = Now })), Describe(() => RecordParser.Parse(json, Earlier with { Now = Now })));
    }

    [Fact]
    public void Text_with_half_a_surrogate_pair_throws_what_it_always_threw()
    {
        var json = "{\"type\":\"traffic.processed\",\"id\":\"t\uD800\"}";
        var e = Assert.Throws<ArgumentException>(() => RecordParser.Parse(json, AtArrival));
        Assert.Equal(Assert.Throws<ArgumentException>(() => ReferenceRecordParser.Parse(json, AtArrival)).Message, e.Message);
        Assert.Throws<ArgumentNullException>("json", () => RecordParser.Parse((string)null!, AtArrival));
    }

    [Fact]
    public void A_typical_traffic_record_parses_faster_and_allocates_less()
    {
        var line = Records.Traffic("t-000123", "2026-10-01T11:05:00Z", E, "use1-az1", "use1-az2", 5_368_709_120);
        Assert.Equal(Describe(() => ReferenceRecordParser.Parse(line, AtArrival)), Describe(() => RecordParser.Parse(line, AtArrival)));
        const int n = 200_000;
        var (oldTime, oldBytes) = Measure(() => ReferenceRecordParser.Parse(line, AtArrival));
        var (newTime, newBytes) = Measure(() => RecordParser.Parse(line, AtArrival));
        output.WriteLine($"{n} parses of a traffic record, one thread: JsonDocument {oldTime.TotalMilliseconds:F0} ms ({oldTime.TotalNanoseconds / n:F0} ns, {oldBytes / n} B each); single pass {newTime.TotalMilliseconds:F0} ms ({newTime.TotalNanoseconds / n:F0} ns, {newBytes / n} B each)");
        // Allocation is deterministic where time is not: the single pass allocates the record and its strings only.
        Assert.True(newBytes < oldBytes / 2, $"single pass allocates {newBytes / n} B per record, JsonDocument {oldBytes / n} B");

        static (TimeSpan, long) Measure(Func<ParseResult> parse)
        {
            for (var i = 0; i < 20_000; i++) parse();
            var allocated = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < n; i++) parse();
            clock.Stop();
            return (clock.Elapsed, GC.GetAllocatedBytesForCurrentThread() - allocated);
        }
    }

    // ---- comparing -------------------------------------------------------------------------

    /// <summary>Compares old and new under each context; answers the new parser's results (for the checks of coverage).</summary>
    List<ParseResult> AssertSameAnswers(IReadOnlyList<string> inputs, string what)
    {
        var mismatches = new List<string>();
        var answers = new List<ParseResult>();
        foreach (var context in Contexts)
            foreach (var json in inputs)
            {
                var expected = Describe(() => ReferenceRecordParser.Parse(json, context));
                var actual = Describe(() => RecordParser.Parse(json, context));
                if (expected != actual) mismatches.Add($"{json}\n  was: {expected}\n  now: {actual}");
                try { answers.Add(RecordParser.Parse(json, context)); } catch (ArgumentException) { }
            }
        output.WriteLine($"{what}: {inputs.Count} inputs x {Contexts.Length} contexts compared, {mismatches.Count} differ");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {inputs.Count * Contexts.Length} differ:\n" + string.Join("\n", mismatches.Take(20)));
        return answers;
    }

    /// <summary>Everything a caller can see of an answer, as one string: the record's contract JSON and type, or the error and id, or the exception.</summary>
    static string Describe(Func<ParseResult> parse)
    {
        ParseResult r;
        try
        {
            r = parse();
        }
        catch (Exception e)
        {
            return $"throws {e.GetType().FullName}: {e.Message}";
        }
        if (r.Record is { } record)
        {
            var recordedAt = record is ILifecycleRecord l ? l.RecordedAt : null;
            return $"valid {record.GetType().Name} id={r.RecordId} error={r.Error} recordedAt={recordedAt} {RecordJson.Serialize(record)}";
        }
        return $"{r.Error!.Code} | {r.Error.Message} | id={r.RecordId ?? "(none)"} | valid={r.IsValid}";
    }

    // ---- inputs ----------------------------------------------------------------------------

    static IEnumerable<string> ContractInputs()
    {
        foreach (var row in (IEnumerable<object[]>)ContractTests.EveryType) yield return (string)row[0];
        foreach (var row in (IEnumerable<object[]>)ContractTests.Invalid) yield return (string)row[0];
        yield return "{" + ContractTrafficFields + ",\"bytes\":1e3}";
        yield return """{"type":"endpoint.accepted","id":"x","at":"2026-10-01T10:51:00Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""";
        yield return """{ "endpointId":"vpce-0a1b2c3d4e5f60718", "at":"2026-10-01T10:51:00Z", "id":"x", "type":"endpoint.accepted" }""";
        yield return """{"type":"endpoint.accepted","id":"x","at":"2026-10-01T10:52:00Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""";
        yield return """{"type":"traffic.processed","id":"x","at":"2026-07-31T23:59:59Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":1}""";
        yield return """{"type":"traffic.processed","id":"x","at":"2026-08-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":1}""";
        yield return """{"type":"account.opened","id":"a","at":"2019-03-01T00:00:00Z","accountId":"111122223333","name":"Old Corp","billingAddress":{"line1":"1 Main St","city":"Tokyo","country":"JP"}}""";
        yield return """{"type":"account.address-changed","id":"a","at":"2020-03-01T00:00:00Z","accountId":"111122223333","billingAddress":{"line1":"1 Main St","city":"Tokyo","country":"JP"}}""";
        yield return """{"type":"endpoint.created","id":"c","at":"2024-02-29T23:30:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","accountId":"111122223333","region":"us-east-1","vpcId":"vpc-0123456789abcdef0","serviceName":"svc","endpointType":"Interface","azIds":["use1-az1"]}""";
        yield return """{"type":"endpoint.az-added","id":"x","at":"2025-01-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az2"}""";
        yield return """{"type":"endpoint.az-removed","id":"x","at":"2025-01-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az2"}""";
        yield return """{"type":"endpoint.accepted","id":"x","at":"2026-07-31T23:59:59Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""";
        yield return """{"type":"endpoint.payer-changed","id":"x","at":"2025-06-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","payerAccountId":"444455556666"}""";
        yield return """{"type":"endpoint.deleted","id":"x","at":"2025-12-31T23:59:59Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""";
    }

    const string ContractTrafficFields = "\"type\":\"traffic.processed\",\"id\":\"t-1\",\"at\":\"2026-10-01T11:05:00Z\",\"endpointId\":\"vpce-0a1b2c3d4e5f60718\",\"azId\":\"use1-az1\"";

    static string Traffic(string rest) => "{" + ContractTrafficFields + "," + rest + "}";

    static IEnumerable<string> BatchDeciderInputs() =>
    [
        Records.Created("c", "2026-10-01T10:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"),
        Records.Created("c", "2026-10-01T10:00:00Z", E, A, "us-east-1", "Interface", "use1-az2"),
        Records.Accepted("old-id", "2026-10-01T10:00:00Z", E),
        Records.Traffic("t", "2026-10-01T10:05:00Z", E, "use1-az1", null, 1),
        Records.Deleted("d", "2026-10-05T00:00:00Z", E),
        Records.AzAdded("x1", "2026-09-30T00:00:00Z", E, "use1-az2"),
        Records.AzAdded("x2", "2026-10-06T00:00:00Z", E, "use1-az2"),
        Records.Created("x3", "2026-10-02T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"),
        Records.Traffic("x4", "2026-10-05T00:00:00Z", E, "use1-az1", null, 5),
        Records.Traffic("x5", "2026-10-04T23:59:59Z", E, "use1-az1", null, 5),
        Records.Traffic("x6", "2026-10-04T00:00:00Z", E, "use1-az2", null, 5),
        Records.AzAdded("x7", "2026-10-02T00:00:00Z", E, "euw1-az1"),
    ];

    /// <summary>An array nested this many levels deep.</summary>
    static string Nest(int depth) => new string('[', depth) + new string(']', depth);

    // JSON values put in place of a field's value: wrong kinds, empty, blank, long, control
    // characters, surrogate escapes, numbers on every edge of the byte count, instants in every shape.
    static readonly string[] Values =
    [
        "null", "true", "false", "0", "-1", "1", "[]", "{}", "[1]", "[\"x\"]", "{\"a\":1}", "{\"a\":1,\"a\":2}", "[{\"a\":\"\\ud800\"}]",
        "\"\"", "\" \"", "\"\\t\"", "\"\\u00a0\"", "\"x\"", "\"\\n\"", "\"a\\u0007b\"", "\"\\u007f\"", "\"~\"", "\"\\u0000\"",
        "\"\\ud800\"", "\"\\udc00\"", "\"a\\ud800b\"", "\"\\ud800\\u0041\"", "\"\\ud800\\ud800\"", "\"\\udc00\\ud800\"", "\"\\ud83d\\ude00\"", "\"😀\"", "\"é\"", "\"\\u00e9\"",
        "\"" + new string('x', 128) + "\"", "\"" + new string('x', 129) + "\"", "\"" + new string('x', 256) + "\"", "\"" + new string('x', 257) + "\"", "\" " + new string('x', 255) + "\"",
        "\"" + new string('y', 70) + "\"", "\"" + new string('é', 300) + "\"",
        // numbers
        "-0", "0.0", "-0.0", "0e0", "1e3", "1E3", "1e+3", "1e-3", "1.5", "2.50", "1.0", "100.000", "0.5e1", "10e-1", "-0.5", "-1e-400", "1e-400",
        "1000000000000000", "1000000000000001", "999999999999999", "9999999999999999", "99999999999999999", "1e15", "1e16", "1.000000000000001e15",
        "999999999999999.5", "5368709120", "1e30", "-1e30", "1e400", "-1e400", "1e99999", "123456789012345678901234567890",
        "79228162514264337593543950335", "79228162514264337593543950336", "-79228162514264337593543950336", "0.00000000000000000000000000001",
        "1.00000000000000000000000000001", "1.7976931348623157e308", "5e-324", "4.9e-325", "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
        // instants
        "\"2026-10-01T11:05:00Z\"", "\"2026-10-01T11:05:00.5Z\"", "\"2026-10-01T11:05:00.123456789Z\"", "\"2026-10-01T11:05:00.1234567891Z\"", "\"2026-10-01T11:05:00.Z\"",
        "\"2026-10-01T11:05:00z\"", "\"2026-10-01t11:05:00Z\"", "\"2026-10-01 11:05:00Z\"", "\"2026-10-01T11:05Z\"", "\"2026-10-01T24:00:00Z\"", "\"2026-10-01T23:60:00Z\"",
        "\"2026-10-01T11:05:60Z\"", "\"2026-02-29T00:00:00Z\"", "\"2024-02-29T00:00:00Z\"", "\"2026-13-01T00:00:00Z\"", "\"2026-00-01T00:00:00Z\"", "\"2026-10-32T00:00:00Z\"",
        "\"2026-04-31T00:00:00Z\"", "\"0000-01-01T00:00:00Z\"", "\"0001-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59Z\"", "\"-0001-01-01T00:00:00Z\"", "\"+2026-10-01T11:05:00Z\"",
        "\"2026-10-01T11:05:00+00:00\"", "\"2026-10-01T20:05:00+09:00\"", "\"2026-10-01T20:05:00+0900\"", "\"2026-10-01T20:05:00.5-05:00\"", "\"2026-10-01T11:05:00Z\\n\"",
        "\"\\u0032026-10-01T11:05:00Z\"", "\"2026-10-01T11:05:00\\u005a\"", "\"２０２６-10-01T11:05:00Z\"", "\"2026-10-01T11:05:00\"", "\"20261001T110500Z\"", "\"2026-11-01T00:05:00Z\"",
        "\"2026-11-01T00:05:00.000000001Z\"", "\"2026-07-31T23:59:59.999999999Z\"", "\"2026-08-01T00:00:00Z\"",
    ];

    // Values near each field's own shape: its text with a newline, blanks, another case, escapes.
    static IEnumerable<string> Variants(string rawString)
    {
        var s = JsonSerializer.Deserialize<string>(rawString)!;
        yield return Quote(s + "\\n");
        yield return Quote(s + "\\n\\n");
        yield return Quote(s + "\\r");
        yield return Quote(s + " ");
        yield return Quote(" " + s);
        yield return Quote(s.ToUpperInvariant());
        yield return Quote(s[..^1]);
        yield return Quote(s + s[^1]);
        yield return Quote(string.Concat(s.Select(c => $"\\u{(int)c:x4}")));
        yield return Quote(s + "\\ud800");
        yield return Quote(s + "\\u0001");
        yield return Quote(s.Replace('-', '_'));
    }

    static string Quote(string escapedText) => "\"" + escapedText + "\"";

    static readonly string[] Bases =
    [
        .. ((IEnumerable<object[]>)ContractTests.EveryType).Select(row => (string)row[0]),
        Records.Created("c-2", "2026-10-05T00:00:00Z", "vpce-11111111111111111", "444455556666", "eu-west-1", "GatewayLoadBalancer", "euw1-az1", "euw1-az2", "euw1-az3"),
        Records.Created("c-3", "2026-10-05T00:00:00Z", "vpce-22222222", "444455556666", "ap-northeast-1", "Gateway", "apne1-az4"),
        Records.Traffic("t-2", "2026-08-01T00:00:00Z", "vpce-0123456789abcdef0", "apne1-az1", null, 1_000_000_000_000_000),
        Records.Opened("o-2", "2026-10-01T00:00:00Z", "999999999999", "Ünïcødé Ltd", "GB"),
    ];

    static IEnumerable<string> Mutations()
    {
        foreach (var baseLine in Bases)
        {
            yield return baseLine;
            var fields = Fields(baseLine);
            for (var i = 0; i < fields.Count; i++)
            {
                var (key, value) = fields[i];
                yield return Object(fields.Where((_, j) => j != i));                                  // missing
                foreach (var v in Values) yield return Object(Replace(fields, i, v));                // wrong kind, null, edge values
                if (value.StartsWith('"')) foreach (var v in Variants(value)) yield return Object(Replace(fields, i, v));
                yield return Object([.. fields, (key, value)]);                                       // repeated
                yield return Object([.. fields.Take(i + 1), (key, "null"), .. fields.Skip(i + 1)]); // repeated, second null
                yield return Object([.. fields, (Escaped(key), value)]);                             // repeated under an escaped name
                yield return Object([.. fields.Where((_, j) => j != i), (Escaped(key), value)]);     // only under an escaped name
                yield return Object([(key, value), .. fields.Where((_, j) => j != i)]);             // another order
                if (value.StartsWith('{'))
                {
                    var inner = Fields(value);
                    for (var k = 0; k < inner.Count; k++)
                    {
                        yield return Object(Replace(fields, i, Object(inner.Where((_, j) => j != k))));
                        foreach (var v in Values.Take(45)) yield return Object(Replace(fields, i, Object(Replace(inner, k, v))));
                        if (inner[k].Value.StartsWith('"')) foreach (var v in Variants(inner[k].Value)) yield return Object(Replace(fields, i, Object(Replace(inner, k, v))));
                        yield return Object(Replace(fields, i, Object([.. inner, inner[k]])));
                        yield return Object(Replace(fields, i, Object([.. inner, (Escaped(inner[k].Key), "\"z\"")])));
                    }
                    yield return Object(Replace(fields, i, Object([.. inner, ("\"\\ud800\"", "1")])));
                    yield return Object(Replace(fields, i, Object([.. inner, ("\"extra\"", "{\"a\":{\"b\":1,\"b\":1}}")])));
                    yield return Object(Replace(fields, i, "[" + value + "]"));
                }
                if (value.StartsWith('['))
                {
                    string[] lists =
                    [
                        "[1]", "[null]", "[true]", "[\"use1-az1\",1]", "[{\"a\":1}]", "[[\"use1-az1\"]]", "[\"use1-az1\",\"use1-az1\"]", "[\"use1-az1\",\"use1-az2\",\"use1-az1\"]",
                        "[\"USE1-AZ1\"]", "[\"use1-az1\\n\"]", "[\"use1-az1\\n\",\"use1-az1\"]", "[\"\\ud800\"]", "[\"use1-az1\",\"\\udc00\"]", "[\" use1-az1\"]", "[\"use1-az1\",\"euw1-az1\"]",
                        "[\"use1\\u002daz1\"]", "[\"use1-az1\", {\"x\":[1, {\"y\":2}]} ]", "[\"use1-az1\",\"" + new string('q', 80) + "\"]", "[\"use1-az1\",{\"k\":\"" + new string('q', 80) + "\"}]",
                        "[\"use1-az1\",{\"a\":1,\"a\":2}]", "[\"use1-az1\",1.50]", "[ \"use1-az1\" , \"use1-az2\" ]", "[\"use1-az01\"]", "[\"euw1-az1\"]", "[\"apne1-az1\",\"apne1-az4\"]",
                        "[\"use1-az1\",{\"k\":\"\\ud800\"}]", "[\"use1-az1\",{\"\\udc00\":1}]", "[\"use1-az1\",[\"\\ud800\"]]", "[\"use1-az1\",{\"k\":1,\"k\":1}]", "[\"use1-az1\",\"\\u0075se1-az2\"]",
                    ];
                    foreach (var list in lists) yield return Object(Replace(fields, i, list));
                }
            }
            // Keys the contract does not know, with problems inside.
            yield return Object([.. fields, ("\"extra\"", "1")]);
            yield return Object([.. fields, ("\"extra\"", "{\"a\":{\"b\":[1,{\"c\":\"\\ud800\"}]}}")]);
            yield return Object([.. fields, ("\"extra\"", "[{\"a\":1,\"a\":2}]")]);
            yield return Object([.. fields, ("\"extra\"", "1"), ("\"extra\"", "2")]);
            yield return Object([.. fields, ("\"extra.\"", "\"\\udc00\"")]);
            yield return Object([.. fields, ("\"a..\"", "{\"b.\":\"\\udc00\"}")]);
            yield return Object([.. fields, ("\"\\ud800\"", "1")]);
            yield return Object([.. fields, ("\"x\\udc00y\"", "1")]);
            yield return Object([.. fields, ("\"extra\"", "{\"\\ud800\":1}")]);
            yield return Object([("\"\\ud800\"", "1"), ("\"\\ud800\"", "1"), .. fields]);
            yield return Object([.. fields, ("\"ID\"", "\"other\"")]);
            yield return Object([.. fields, ("\"line1\"", "\"top-level line1\"")]);
            for (var depth = 13; depth <= 17; depth++) yield return Object([.. fields, ("\"deep\"", Nest(depth))]);
            yield return Object([.. fields, ("\"deep\"", Nest(14)[..14] + "{\"a\":1,\"a\":2}" + Nest(14)[14..])]);
            // The text around the record.
            yield return " " + baseLine + " ";
            yield return "\r\n\t" + baseLine + "\n";
            yield return "\uFEFF" + baseLine;
            yield return baseLine.Replace(",", " , ").Replace(":", " : ");
            foreach (var tail in new[] { "x", "}", ",", "{}", "[]", "//c", "/*c*/", "\u0000", " 1", "\"" }) yield return baseLine + tail;
            yield return baseLine.Replace("\":", "\"=");
            yield return "[" + baseLine + "]";
            yield return baseLine.Replace("\"", "'");
        }
        // Every prefix of two records: malformed JSON at each position, with System.Text.Json's message for it.
        foreach (var line in new[] { Bases[9], Bases[0] })
            for (var length = 0; length < line.Length; length++) yield return line[..length];
        foreach (var other in new[] { "", " ", "null", "1", "\"s\"", "\"\\ud800\"", "[]", "[{\"a\":1,\"a\":1}]", "true", "{}", "{ }", "{\"type\":\"traffic.processed\"}", "{\"id\":\"x\"}", "{\"id\":\"x\",\"type\":\"\"}", "{\"id\":\"x\",\"type\":\"TRAFFIC.PROCESSED\"}", "{\"id\":\"x\",\"type\":\"traffic.processed\\n\"}", "{\"id\":\"x\",\"type\":\"traffic.processed\",\"at\":\"\"}" })
            yield return other;
        yield return Nest(16);
        yield return Nest(17);
        yield return "{\"a\":" + Nest(15) + "}";
        yield return "{\"a\":" + Nest(16) + "}";
    }

    /// <summary>The record's top-level keys and values as they are written (keys with their quotes).</summary>
    static List<(string Key, string Value)> Fields(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateObject().Select(p => (JsonSerializer.Serialize(p.Name), p.Value.GetRawText())).ToList();
    }

    static string Object(IEnumerable<(string Key, string Value)> fields) => "{" + string.Join(",", fields.Select(f => f.Key + ":" + f.Value)) + "}";

    static List<(string, string)> Replace(List<(string Key, string Value)> fields, int index, string value) =>
        fields.Select((f, j) => j == index ? (f.Key, value) : (f.Key, f.Value)).ToList();

    /// <summary>The same key with its first letter written as a \u escape.</summary>
    static string Escaped(string quotedKey) => $"\"\\u{(int)quotedKey[1]:x4}{quotedKey[2..]}";
}
