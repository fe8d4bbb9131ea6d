using System.ComponentModel;
using System.Text.Json.Nodes;
using Billing.Host.Api;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Marten;
using NodaTime;
using Npgsql;
using Spectre.Console.Cli;
using Wolverine.Marten;

namespace Billing.Host.Features;

/// <summary>
/// Rejected records, kept with their reason, their original JSON and when they arrived:
/// GET /api/dead-letters[?code=CODE], `billing dead-letters list [--code CODE] [--json]`, and
/// `billing dead-letters replay [--id ID | --all]`, which submits them again through the bus
/// (say, once the missing endpoint.created was sent) and reports what became of them.
/// </summary>
public static class DeadLetters
{
    public static void Map(WebApplication app) =>
        app.MapGet("/api/dead-letters", async (string? code, int? limit, IQuerySession session, CancellationToken ct) =>
            Results.Text(ToJson(await ListAsync(session, code, limit ?? 1000, ct)).ToJsonString(Billing.Events.RecordJson.Options), "application/json"))
        .WithName("ListDeadLetters")
        .WithTags("dead letters")
        .WithSummary("Rejected records")
        .WithDescription("The newest dead letters first (?limit=, default 1000), only those of ?code= if given, each with its reason and original JSON.")
        .Produces<DeadLetterDocument[]>(StatusCodes.Status200OK)
        .Produces(StatusCodes.Status400BadRequest);

    public static async Task<IReadOnlyList<DeadLetter>> ListAsync(IQuerySession session, string? code, int limit, CancellationToken ct)
    {
        IQueryable<DeadLetter> query = session.Query<DeadLetter>();
        if (code is not null) query = query.Where(d => d.Code == code);
        return await query.OrderByDescending(d => d.DeadLetteredAt).Take(limit).ToListAsync(ct);
    }

    public static JsonArray ToJson(IEnumerable<DeadLetter> letters) => new(letters.Select(d => (JsonNode)new JsonObject
    {
        ["id"] = d.Id.ToString(),
        ["recordId"] = d.RecordId,
        ["code"] = d.Code,
        ["reason"] = d.Reason,
        ["json"] = d.Json,
        ["arrivedAt"] = Billing.Events.RecordParser.Format(d.ArrivedAt),
        ["deadLetteredAt"] = Billing.Events.RecordParser.Format(d.DeadLetteredAt),
        ["replayedAt"] = d.ReplayedAt is { } r ? Billing.Events.RecordParser.Format(r) : null,
    }).ToArray());

    public sealed class ListSettings : CommandSettings
    {
        [CommandOption("--code <CODE>"), Description("only the dead letters refused with this code")]
        public string? Code { get; init; }

        [CommandOption("--limit <N>"), Description("the newest N"), DefaultValue(1000), Positive]
        public int Limit { get; init; } = 1000;

        [CommandOption("--json"), Description("the JSON of GET /api/dead-letters instead of lines")]
        public bool Json { get; init; }
    }

    public sealed class ReplaySettings : CommandSettings
    {
        [CommandOption("--id <ID>"), Description("the one dead letter to submit again")]
        public string? Id { get; init; }

        [CommandOption("--all"), Description("every dead letter not replayed before")]
        public bool All { get; init; }
    }

    public static async Task<int> ListCommandAsync(IServiceProvider services, ListSettings args, CancellationToken ct)
    {
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var letters = await ListAsync(session, args.Code, args.Limit, ct);
        if (args.Json) Console.WriteLine(ToJson(letters).ToJsonString(Billing.Events.RecordJson.Options));
        else
        {
            foreach (var d in letters)
                Console.WriteLine($"{d.Id}  {Billing.Events.RecordParser.Format(d.DeadLetteredAt)}  {d.RecordId ?? "-",-20} {d.Code,-20} {d.Reason}{(d.ReplayedAt is null ? "" : "  (replayed)")}");
            Console.WriteLine($"{letters.Count} dead letters");
        }
        return 0;
    }

    public static async Task<int> ReplayCommandAsync(IServiceProvider services, ReplaySettings args, CancellationToken ct)
    {
        Guid? id = args.Id is { } text ? (Guid.TryParse(text, out var g) ? g : throw new CliException($"'{text}' is not a dead-letter id")) : null;
        if (id is null && !args.All) throw new CliException("usage: billing dead-letters replay --id ID | --all");
        var result = await ReplayAsync(services, id, ct);
        Console.WriteLine($"replayed {result.Records:N0} dead letters: {result.Accepted:N0} accepted, {result.Duplicates:N0} duplicate, {result.Rejected:N0} rejected again");
        return 0;
    }

    /// <summary>
    /// Submits dead letters that were not replayed before (one, or all) as a new import through the
    /// bus, marking them replayed in the same transaction as the outgoing message, and waits for
    /// every decision. A record refused again becomes a new dead letter with its new reason.
    /// </summary>
    public static async Task<ImportUsage.Result> ReplayAsync(IServiceProvider services, Guid? id, CancellationToken ct)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        var clock = services.GetRequiredService<IClock>();
        var settings = services.GetRequiredService<BillingSettings>();
        var now = clock.GetCurrentInstant();
        var timer = System.Diagnostics.Stopwatch.StartNew();
        var importId = Guid.CreateVersion7();

        await using var session = store.LightweightSession();
        var letters = id is { } one
            ? (await session.LoadAsync<DeadLetter>(one, ct) is { } d ? [d] : throw new CliException($"no dead letter {one}"))
            : await session.Query<DeadLetter>().Where(d => d.ReplayedAt == null).OrderBy(d => d.DeadLetteredAt).ToListAsync(ct);
        if (letters.Count == 0) return new ImportUsage.Result(0, 0, 0, 0, timer.Elapsed);

        using var scope = services.CreateScope();
        var outbox = scope.ServiceProvider.GetRequiredService<IMartenOutbox>();
        outbox.Enroll(session);
        ImportsTable.Start(session, importId, letters.Count);
        foreach (var letter in letters)
        {
            letter.ReplayedAt = now;
            session.Store(letter);
        }
        var partitions = services.GetRequiredService<UsagePartitions>();
        foreach (var chunk in letters.Chunk(ImportUsage.BatchSize))
            foreach (var batch in IngestBatch.For(partitions, importId, chunk.Select(l => new IncomingRecord(l.Json, now)).ToList()))
                await outbox.SendAsync(batch);
        await session.SaveChangesAsync(ct);

        var counts = await ImportUsage.WaitForDecisionsAsync(settings.ConnectionString, importId, letters.Count, ct);
        return new ImportUsage.Result(letters.Count, counts.Accepted, counts.Duplicates, counts.Rejected, timer.Elapsed);
    }
}
