using System.ComponentModel;
using System.Text.Json.Nodes;
using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Marten;
using NodaTime;
using Npgsql;
using Spectre.Console.Cli;
using Wolverine;
using Wolverine.Marten;

namespace Billing.Host.Features;

/// <summary>
/// Rejected records, kept with their reason, their original JSON and when they arrived:
/// GET /api/dead-letters[?code=CODE], `billing dead-letters list [--code CODE] [--json]`, and
/// `billing dead-letters replay [--id ID | --all]`, which submits them again through the bus
/// (say, once the missing endpoint.created was sent) and reports what became of them. With
/// `--messages` both verbs work on the messages Wolverine parked instead (<see cref="ParkedMessages"/>).
/// </summary>
public static class DeadLetters
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/api/dead-letters", async (string? code, int? limit, IQuerySession session, CancellationToken ct) =>
            Results.Text(ToJson(await ListAsync(session, code, limit ?? 1000, ct)).ToJsonString(Billing.Events.RecordJson.Options), "application/json"))
            .WithName("ListDeadLetters")
            .WithTags("dead letters")
            .WithSummary("Rejected records")
            .WithDescription("The newest dead letters first (?limit=, default 1000), only those of ?code= if given, each with its reason, original JSON and who sent it.")
            .Produces<DeadLetterDocument[]>(StatusCodes.Status200OK)
            .Produces(StatusCodes.Status400BadRequest)
            .RequireAuthorization(Policies.Operate);
        app.MapPost("/api/dead-letters/replay", async (string? id, bool? all, Caller caller, IServiceProvider services, CancellationToken ct) =>
        {
            Guid? one = null;
            if (id is not null)
            {
                if (!Guid.TryParse(id, out var g)) return Results.BadRequest(new ApiError { Error = $"'{id}' is not a dead-letter id" });
                one = g;
            }
            else if (all is not true) return Results.BadRequest(new ApiError { Error = "say which: ?id=ID for one dead letter, or ?all=true for every one not replayed before" });
            try
            {
                var result = await ReplayAsync(services, one, caller.Actor, ct);
                return Results.Json(new ReplayAnswer(result.Records, result.Accepted, result.Duplicates, result.Rejected));
            }
            catch (NoDeadLetter missing)
            {
                return Results.NotFound(new ApiError { Error = missing.Message });
            }
        })
            .WithName("ReplayDeadLetters")
            .WithTags("dead letters")
            .WithSummary("Submit rejected records again through the bus")
            .WithDescription("?id=ID for one dead letter, or ?all=true for every one not replayed before; waits until each is decided again and answers the counts. The letters record who replayed them.")
            .Produces<ReplayAnswer>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.Operate);
    }

    sealed class NoDeadLetter(Guid id) : CliException($"no dead letter {id}");

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
        ["sentBy"] = d.SentBy,
        ["key"] = Actor.Parse(d.SentBy) is { Kind: "key" } key ? new JsonObject { ["id"] = key.KeyId, ["name"] = key.Name } : null,
        ["replayedBy"] = d.ReplayedBy,
    }).ToArray());

    /// <summary>Who sent a dead letter, as a list shows it: the key's id and name, the JWT's subject, the CLI user, or the broker.</summary>
    static string SentBy(DeadLetter d) => Actor.Parse(d.SentBy) switch
    {
        { Kind: "key" } key => $"key {key.KeyId} {key.Name}",
        { Kind: "cli" } cli => $"cli {cli.Name}",
        { Kind: "jwt" } jwt => $"jwt {jwt.Name}",
        { } other => other.ToString(),
        null => "-",
    };

    public sealed class ListSettings : CommandSettings
    {
        [CommandOption("--code <CODE>"), Description("only the dead letters refused with this code")]
        public string? Code { get; init; }

        [CommandOption("--limit <N>"), Description("the newest N"), DefaultValue(1000), Positive]
        public int Limit { get; init; } = 1000;

        [CommandOption("--json"), Description("the JSON of GET /api/dead-letters instead of lines")]
        public bool Json { get; init; }

        [CommandOption("--messages"), Description("the messages Wolverine parked after their handling failed (its dead-letter storage, and RabbitMQ's dead-letter queue), not rejected records")]
        public bool Messages { get; init; }
    }

    public sealed class ReplaySettings : CommandSettings
    {
        [CommandOption("--id <ID>"), Description("the one dead letter to submit again")]
        public string? Id { get; init; }

        [CommandOption("--all"), Description("every dead letter not replayed before")]
        public bool All { get; init; }

        [CommandOption("--messages"), Description("send parked messages again (all of them, or the one of --id) instead of rejected records")]
        public bool Messages { get; init; }
    }

    public static async Task<int> ListCommandAsync(IServiceProvider services, ListSettings args, CancellationToken ct)
    {
        if (args.Messages)
        {
            if (args.Code is not null) throw new CliException("--code picks rejected records; parked messages have none (drop --messages or --code)");
            var parked = await ParkedMessages.ListAsync(services, args.Limit, ct);
            if (args.Json) Console.WriteLine(ParkedMessages.ToJson(parked).ToJsonString(Billing.Events.RecordJson.Options));
            else
            {
                foreach (var p in parked) Console.WriteLine(ParkedMessages.ToLine(p));
                Console.WriteLine($"{parked.Count} parked messages");
            }
            return 0;
        }
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var letters = await ListAsync(session, args.Code, args.Limit, ct);
        if (args.Json) Console.WriteLine(ToJson(letters).ToJsonString(Billing.Events.RecordJson.Options));
        else
        {
            foreach (var d in letters)
                Console.WriteLine($"{d.Id}  {Billing.Events.RecordParser.Format(d.DeadLetteredAt)}  {d.RecordId ?? "-",-20} {d.Code,-20} {SentBy(d),-28} {d.Reason}{(d.ReplayedAt is null ? "" : $"  (replayed by {d.ReplayedBy ?? "?"})")}");
            Console.WriteLine($"{letters.Count} dead letters");
        }
        return 0;
    }

    public static async Task<int> ReplayCommandAsync(IServiceProvider services, ReplaySettings args, CancellationToken ct)
    {
        if (args.Messages)
        {
            var replayed = await ParkedMessages.ReplayAsync(services, args.Id, TimeSpan.FromMinutes(1), ct);
            Console.WriteLine($"replayed {replayed.Store + replayed.Broker:N0} parked messages: {replayed.Store:N0} from the message store, {replayed.Broker:N0} from the broker's dead-letter queue");
            if (replayed.NotMovedYet == 0) return 0;
            Console.Error.WriteLine($"billing: {replayed.NotMovedYet:N0} of them are marked for replay but no node moved them back to their queues within a minute: is a serve node running?");
            return 1;
        }
        Guid? id = args.Id is { } text ? (Guid.TryParse(text, out var g) ? g : throw new CliException($"'{text}' is not a dead-letter id")) : null;
        if (id is null && !args.All) throw new CliException("usage: billing dead-letters replay --id ID | --all");
        var result = await ReplayAsync(services, id, Actor.CurrentUser, ct);
        Console.WriteLine($"replayed {result.Records:N0} dead letters: {result.Accepted:N0} accepted, {result.Duplicates:N0} duplicate, {result.Rejected:N0} rejected again");
        return 0;
    }

    /// <summary>
    /// Submits dead letters that were not replayed before (one, or all) as a new import through the
    /// bus, marking them replayed in the same transaction as the outgoing message, and waits for
    /// every decision. A record refused again becomes a new dead letter with its new reason.
    /// </summary>
    /// <param name="by">who asked: recorded on each letter and relayed to every event and new dead letter of the replay</param>
    public static async Task<ImportUsage.Result> ReplayAsync(IServiceProvider services, Guid? id, Actor by, CancellationToken ct)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        var clock = services.GetRequiredService<IClock>();
        var settings = services.GetRequiredService<BillingSettings>();
        var now = clock.GetCurrentInstant();
        var timer = System.Diagnostics.Stopwatch.StartNew();
        var importId = Guid.CreateVersion7();

        await using var session = store.LightweightSession();
        var letters = id is { } one
            ? (await session.LoadAsync<DeadLetter>(one, ct) is { } d ? [d] : throw new NoDeadLetter(one))
            : await session.Query<DeadLetter>().Where(d => d.ReplayedAt == null).OrderBy(d => d.DeadLetteredAt).ToListAsync(ct);
        if (letters.Count == 0) return new ImportUsage.Result(0, 0, 0, 0, timer.Elapsed);

        using var scope = services.CreateScope();
        var outbox = scope.ServiceProvider.GetRequiredService<IMartenOutbox>();
        outbox.Enroll(session);
        if (outbox is IMessageContext context) context.UserName = by.ToString();
        ImportsTable.Start(session, importId, letters.Count);
        foreach (var letter in letters)
        {
            letter.ReplayedAt = now;
            letter.ReplayedBy = by.ToString();
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
