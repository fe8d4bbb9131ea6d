using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.RejectedRecords;

/// <summary>
/// The same corpus as JSON Lines through the bus (`billing import`): malformed JSON included, each
/// bad record is dead-lettered verbatim with the same code and reason as over HTTP, and the import
/// counts it as rejected.
/// </summary>
public class CorpusBusTests(CorpusHost fixture) : IClassFixture<CorpusHost>
{
    BillingTestHost Host => fixture.Host;

    [Fact]
    public async Task The_same_bad_records_through_the_bus_are_dead_lettered_with_the_same_codes_and_counted_as_rejected()
    {
        var arrival = Host.Clock.GetCurrentInstant();
        var problems = new List<string>();

        var baseImport = await Host.ImportAsync(CorpusScenario.Base);
        Assert.Equal((5L, 5L, 0L, 0L), (baseImport.Records, baseImport.Accepted, baseImport.Duplicates, baseImport.Rejected));

        // Everything refused at once, with the good records, in one message.
        var immediate = BadRecordCorpus.Immediate;
        var mixed = CorpusScenario.Mix(immediate).Select(m => m.Text).ToList();
        var import = await Host.ImportAsync(mixed);
        var expected = ((long)mixed.Count, (long)CorpusScenario.GoodAccepted, (long)CorpusScenario.GoodDuplicates, (long)immediate.Count);
        if ((import.Records, import.Accepted, import.Duplicates, import.Rejected) != expected)
            problems.Add($"import (records, accepted, duplicates, rejected) {(import.Records, import.Accepted, import.Duplicates, import.Rejected)} (expected {expected})");

        // The waiting ones: the import finishes only when they are dead-lettered, so the clock moves on meanwhile.
        var waiting = BadRecordCorpus.Waiting;
        using var stop = new CancellationTokenSource();
        var ticking = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(500);
                Host.Clock.Advance(Duration.FromMinutes(1));
            }
        });
        var waited = await Host.ImportAsync(waiting.Select(e => e.Record));
        await stop.CancelAsync();
        await ticking;
        if ((waited.Accepted, waited.Duplicates, waited.Rejected) != (0, 0, waiting.Count))
            problems.Add($"waiting import (accepted, duplicates, rejected) {(waited.Accepted, waited.Duplicates, waited.Rejected)} (expected (0, 0, {waiting.Count}))");

        // Records that waited arrived while the clock was moving: their arrival time is not checked.
        problems.AddRange(await BadRecordCorpus.CheckDeadLettersAsync(Host.Store, BadRecordCorpus.Entries, e => e.Pending ? null : arrival, "bus"));
        problems.AddRange(await CorpusScenario.CheckUsageAsync(Host, "bus"));
        Assert.True(problems.Count == 0, $"{problems.Count} mismatches:\n" + string.Join("\n", problems));
    }
}
