using System.Text.Json;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using Marten;
using NodaTime;

namespace Billing.Tests.RejectedRecords;

/// <summary>
/// One bad record or situation of the corpus: the raw text exactly as a producer sends it, the
/// error code it must get and a substring of the reason. <see cref="Pending"/> entries first wait
/// for an event that may be in flight and are dead-lettered only once the retry window has passed.
/// </summary>
public sealed record CorpusEntry(string Name, string Record, string Code, string Reason, bool Pending)
{
    /// <summary>Whether the text is one JSON value, so that it can be an element of an HTTP batch
    /// (malformed JSON cannot: it makes the whole body unreadable).</summary>
    public bool FitsInHttpBatch
    {
        get
        {
            try
            {
                using var doc = JsonDocument.Parse("[" + Record + "]");
                return doc.RootElement.GetArrayLength() == 1;
            }
            catch (JsonException)
            {
                return false;
            }
        }
    }

    /// <summary>The record id the service reports: none when the text is not an object or its id is itself the problem.</summary>
    public string? ExpectedRecordId
    {
        get
        {
            if (Code == "malformed-json" || Reason.Contains("field 'id'")) return null;
            using var doc = JsonDocument.Parse(Record);
            return doc.RootElement.GetProperty("id").GetString();
        }
    }

    public override string ToString() => Name;
}

/// <summary>Reads tests/Billing.Tests/RejectedRecords/bad-records.json from the repository (not copied to the output).</summary>
public static class BadRecordCorpus
{
    public static string FilePath => Path.Combine(PostgresServer.RepositoryRoot(), "tests", "Billing.Tests", "RejectedRecords", "bad-records.json");

    static readonly Lazy<IReadOnlyList<CorpusEntry>> Loaded = new(Load);

    public static IReadOnlyList<CorpusEntry> Entries => Loaded.Value;
    public static IReadOnlyList<CorpusEntry> Immediate => Entries.Where(e => !e.Pending).ToList();
    public static IReadOnlyList<CorpusEntry> Waiting => Entries.Where(e => e.Pending).ToList();

    static IReadOnlyList<CorpusEntry> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(FilePath));
        return doc.RootElement.GetProperty("entries").EnumerateArray().Select(e => new CorpusEntry(
            e.GetProperty("name").GetString()!,
            e.GetProperty("record").GetString()!,
            e.GetProperty("code").GetString()!,
            e.GetProperty("reason").GetString()!,
            e.TryGetProperty("expect", out var expect) && expect.GetString() == "pending")).ToList();
    }

    /// <summary>
    /// Checks every bad entry has exactly one dead letter carrying its verbatim text, code, reason
    /// substring, record id and arrival time (when given), and that nothing else was dead-lettered; answers every mismatch.
    /// </summary>
    public static async Task<List<string>> CheckDeadLettersAsync(IDocumentStore store, IReadOnlyList<CorpusEntry> entries, Func<CorpusEntry, Instant?> arrivedAt, string via)
    {
        await using var session = store.QuerySession();
        var dead = (await session.Query<DeadLetter>().ToListAsync()).ToLookup(d => d.Json, StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var entry in entries)
        {
            var letters = dead[entry.Record].ToList();
            if (letters.Count != 1)
            {
                problems.Add($"{via} {entry.Name}: {letters.Count} dead letters with its exact text (expected 1)");
                continue;
            }
            var d = letters[0];
            if (d.Code != entry.Code || !d.Reason.Contains(entry.Reason, StringComparison.Ordinal))
                problems.Add($"{via} {entry.Name}: dead letter {d.Code}: {d.Reason} (expected {entry.Code}: ...{entry.Reason}...)");
            if (entry.Pending && !d.Reason.Contains("(still so after waiting", StringComparison.Ordinal))
                problems.Add($"{via} {entry.Name}: dead letter reason does not say it waited: {d.Reason}");
            if (d.RecordId != entry.ExpectedRecordId)
                problems.Add($"{via} {entry.Name}: dead letter record id '{d.RecordId}' (expected '{entry.ExpectedRecordId}')");
            if (arrivedAt(entry) is { } arrived && d.ArrivedAt != arrived)
                problems.Add($"{via} {entry.Name}: dead letter arrived at {d.ArrivedAt} (expected {arrived})");
        }
        var known = entries.Select(e => e.Record).ToHashSet(StringComparer.Ordinal);
        foreach (var group in dead.Where(g => !known.Contains(g.Key)))
            problems.Add($"{via}: unexpected dead letter {group.First().Code}: {group.First().Reason} for {Clip(group.Key)}");
        return problems;
    }

    public static string Clip(string s) => s.Length <= 160 ? s : s[..157] + "...";
}

/// <summary>
/// The small valid scenario the corpus is mixed with. <see cref="Base"/> goes in first (the state
/// the stateful corpus entries refer to); <see cref="Good"/> travels in the same batch as the bad
/// records and must all be accepted (one is an exact duplicate of a base record) and billed exactly.
/// </summary>
public static class CorpusScenario
{
    public const string A = "111122223333";
    public const string E1 = "vpce-0a1b2c3d4e5f60718";
    public const string Deleted = "vpce-0dead0000000000ed";
    public const string E2 = "vpce-2222222222222222";
    public const string E3 = "vpce-3333333333333333";

    public static readonly string[] Base =
    [
        Records.Opened("b-1", "2026-09-01T00:00:00Z", A),
        Records.Created("b-2", "2026-10-01T10:00:00Z", E1, A, "us-east-1", "Interface", "use1-az1", "use1-az2"),
        Records.Created("b-3", "2026-10-02T00:00:00Z", Deleted, A, "eu-west-1", "Interface", "euw1-az2"),
        Records.Deleted("b-4", "2026-10-02T05:00:00Z", Deleted),
        Records.Traffic("b-5", "2026-10-01T10:30:00Z", E1, "use1-az1", "use1-az2", 1000),
    ];

    /// <summary>Good records of the bad batch: each is accepted, except the exact duplicate of b-5.</summary>
    public static readonly string[] Good =
    [
        Records.Traffic("g-1", "2026-10-01T11:00:00Z", E1, "use1-az2", null, 2000),
        Records.AzAdded("g-2", "2026-10-01T20:00:00Z", E1, "use1-az3"),
        Records.Created("g-3", "2026-10-31T22:00:00Z", E2, A, "eu-west-1", "GatewayLoadBalancer", "euw1-az1"),
        Records.Traffic("g-4", "2026-10-31T22:30:00Z", E2, "euw1-az1", null, 500),
        Records.Created("g-5", "2026-08-01T00:00:00Z", E3, A, "ap-northeast-1", "Gateway", "apne1-az1"), // the oldest period still open
        Records.Traffic("g-6", "2026-11-01T00:05:00Z", E1, "use1-az3", "use1-az3", 700), // exactly 5 minutes ahead: tolerated
        Records.Traffic("g-7", "2026-10-01T20:00:00Z", E1, "use1-az3", "use1-az1", 300), // the instant use1-az3 is added
        Records.Accepted("g-8", "2026-10-01T10:00:00Z", E1), // at the creation instant
        Records.Traffic("b-5", "2026-10-01T10:30:00Z", E1, "use1-az1", "use1-az2", 1000), // exact duplicate
    ];

    public const int GoodAccepted = 8;
    public const int GoodDuplicates = 1;

    /// <summary>Mixes the good records among the bad ones (every few bad records, a good one).</summary>
    public static List<(string Text, CorpusEntry? Bad)> Mix(IReadOnlyList<CorpusEntry> bad)
    {
        var mixed = new List<(string, CorpusEntry?)>();
        var good = 0;
        for (var i = 0; i < bad.Count; i++)
        {
            if (i % 10 == 3 && good < Good.Length) mixed.Add((Good[good++], null));
            mixed.Add((bad[i].Record, bad[i]));
        }
        while (good < Good.Length) mixed.Add((Good[good++], null));
        return mixed;
    }

    /// <summary>Compares the account's usage with what the base and good records give; answers every difference.</summary>
    public static async Task<List<string>> CheckUsageAsync(BillingTestHost host, string via)
    {
        var problems = new List<string>();
        var october = await host.UsageAsync(A, "2026-10");
        Compare("October endpoint hours", october.EndpointHours.Select(h => $"{h.Region} {h.EndpointType} {h.AzId}: {h.Hours}"),
        [
            "ap-northeast-1 Gateway apne1-az1: 744",
            "eu-west-1 GatewayLoadBalancer euw1-az1: 2",
            "eu-west-1 Interface euw1-az2: 5",
            "us-east-1 Interface use1-az1: 734",
            "us-east-1 Interface use1-az2: 734",
            "us-east-1 Interface use1-az3: 724",
        ]);
        Compare("October data processed", october.DataProcessed.Select(d => $"{d.Region} {d.Pool}: {d.Bytes}"),
            ["eu-west-1 GatewayLoadBalancer: 500", "us-east-1 Interface: 3300"]);
        Compare("October cross-AZ", october.CrossAz.Select(c => $"{c.Region}: {c.Bytes}"), ["us-east-1: 1300"]);

        var november = await host.UsageAsync(A, "2026-11");
        Compare("November data processed", november.DataProcessed.Select(d => $"{d.Region} {d.Pool}: {d.Bytes}"), ["us-east-1 Interface: 700"]);
        Compare("November cross-AZ", november.CrossAz.Select(c => $"{c.Region}: {c.Bytes}"), []);
        return problems;

        void Compare(string what, IEnumerable<string> actual, string[] expected)
        {
            var a = actual.Order(StringComparer.Ordinal).ToList();
            if (!a.SequenceEqual(expected.Order(StringComparer.Ordinal)))
                problems.Add($"{via} {what}: [{string.Join("; ", a)}] (expected [{string.Join("; ", expected)}])");
        }
    }
}
