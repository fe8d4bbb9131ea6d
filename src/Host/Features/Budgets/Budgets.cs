using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Invoicing;
using Billing.Invoicing.Budgets;
using Marten;
using NodaTime;
using Spectre.Console.Cli;

namespace Billing.Host.Features.Budgets;

/// <summary>
/// Budgets (spec 11, docs/spend.md): POST /api/budgets, GET /api/budgets[?accountId=], DELETE /api/budgets/{id},
/// and `billing budgets create | list | delete`. Operators manage every account's budgets, an account key
/// its own account's; any other is answered 404, as a budget that does not exist. Setting and deleting
/// write the budget's stream only: the budget watch of every node sees a new budget within a second and
/// has its account evaluated (<see cref="BudgetWatch"/>), so the CLI needs no node of its own.
/// </summary>
public static class BudgetRoutes
{
    public static void Map(WebApplication app)
    {
        app.MapPost("/api/budgets", CreateAsync)
            .WithName("CreateBudget")
            .WithTags("budgets")
            .WithSummary("Set a budget")
            .WithDescription("An amount in USD per billing period of one account, with thresholds in percent of it (default 50, 80, 100) on the actual or the forecast cost (default actual). Each threshold crossed raises one budget.threshold_crossed alert per period. An account key sets budgets for its own account only (accountId may be left out); any other is answered 404.")
            .Accepts<BudgetInput>("application/json")
            .Produces<BudgetDocument>(StatusCodes.Status201Created)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.ReadAccounts);
        app.MapGet("/api/budgets", ListRouteAsync)
            .WithName("ListBudgets")
            .WithTags("budgets")
            .WithSummary("The budgets in force, with the alerts each has raised")
            .WithDescription("Every account's budgets for an operator, an account key's own; ?accountId= names one account (another account's is answered 404 to an account key).")
            .Produces<BudgetDocument[]>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.ReadAccounts);
        app.MapDelete("/api/budgets/{id}", DeleteRouteAsync)
            .WithName("DeleteBudget")
            .WithTags("budgets")
            .WithSummary("Delete a budget")
            .WithDescription("The budget alerts no more; the alerts it raised stay. Answers the budget as it was. Another account's budget is answered 404, as one that does not exist.")
            .Produces<BudgetDocument>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.ReadAccounts);
    }

    static async Task<IResult> CreateAsync(HttpRequest request, Caller caller, HttpContext context, IDocumentStore store, IClock clock, CancellationToken ct)
    {
        JsonDocument body;
        try
        {
            body = await JsonDocument.ParseAsync(request.Body, cancellationToken: ct);
        }
        catch (JsonException e)
        {
            return Results.BadRequest(new ApiError { Error = $"the body is not valid JSON: {e.Message}" });
        }
        using (body)
        {
            var (input, refused) = Read(body.RootElement, caller);
            if (input is null) return Results.BadRequest(new ApiError { Error = refused! });
            var (terms, error) = BudgetTerms.Check(input.AccountId, input.Amount, input.Thresholds, input.Basis, input.Name);
            if (terms is null) return Results.BadRequest(new ApiError { Error = error! });
            if (!caller.MayRead(terms.AccountId)) return Policies.NotFound(context);
            var budget = await SetAsync(store, terms, caller.Actor, clock, ct);
            return Results.Text(ToJson(budget, []).ToJsonString(RecordJson.Options), "application/json", statusCode: StatusCodes.Status201Created);
        }
    }

    sealed record Input(string? AccountId, string? Amount, IReadOnlyList<string>? Thresholds, string? Basis, string? Name);

    /// <summary>The body's fields as text, or what is wrong with its shape. An account key's own account stands in for a missing accountId.</summary>
    static (Input? Input, string? Refused) Read(JsonElement body, Caller caller)
    {
        if (body.ValueKind != JsonValueKind.Object)
            return (null, """the body must be a JSON object like {"accountId":"111122223333","amount":"100.00","thresholds":[50,80,100],"basis":"actual","name":"monthly"}""");
        string? accountId = caller.Role == KeyRole.Account ? caller.AccountId : null, amount = null, basis = null, name = null;
        List<string>? thresholds = null;
        foreach (var p in body.EnumerateObject())
        {
            switch (p.Name, p.Value.ValueKind)
            {
                case ("accountId", JsonValueKind.String): accountId = p.Value.GetString(); break;
                // A decimal string, as the API writes money, or a JSON number read exactly as written (never as a double).
                case ("amount", JsonValueKind.String): amount = p.Value.GetString(); break;
                case ("amount", JsonValueKind.Number): amount = p.Value.GetRawText(); break;
                case ("thresholds", JsonValueKind.Array):
                    thresholds = [];
                    foreach (var t in p.Value.EnumerateArray())
                        thresholds.Add(t.ValueKind == JsonValueKind.Number ? t.GetRawText() : $"{t}");
                    break;
                case ("basis", JsonValueKind.String): basis = p.Value.GetString(); break;
                case ("name", JsonValueKind.String): name = p.Value.GetString(); break;
                case ("name", JsonValueKind.Null): break;
                case ("accountId" or "amount" or "thresholds" or "basis" or "name", var kind):
                    return (null, $"'{p.Name}' must be {(p.Name == "thresholds" ? "an array of whole percentages" : p.Name == "amount" ? "a decimal string like \"100.00\"" : "a string")}, not {kind.ToString().ToLowerInvariant()}");
                default:
                    return (null, $"unknown key '{p.Name}': a budget has accountId, amount, thresholds, basis and name");
            }
        }
        return amount is null ? (null, "'amount' is missing: the budget's amount in USD per period, like \"100.00\"") : (new Input(accountId, amount, thresholds, basis, name), null);
    }

    static async Task<IResult> ListRouteAsync(string? accountId, Caller caller, HttpContext context, IQuerySession session, CancellationToken ct)
    {
        if (accountId is not null && QueryUsage.Validate(accountId, "2000-01") is { } error) return Results.BadRequest(new ApiError { Error = error });
        if (accountId is not null && !caller.MayRead(accountId)) return Policies.NotFound(context);
        var listed = await ListAsync(session, accountId ?? caller.OnlyAccount, ct);
        return Results.Text(new JsonArray(listed.Select(b => (JsonNode)ToJson(b.Budget, b.Alerts)).ToArray()).ToJsonString(RecordJson.Options), "application/json");
    }

    static async Task<IResult> DeleteRouteAsync(string id, Caller caller, IDocumentStore store, IClock clock, CancellationToken ct)
    {
        if (!Guid.TryParseExact(id, "D", out var budgetId)) return Results.BadRequest(new ApiError { Error = $"'{id}' is not a budget id (a UUID like 0195f3c2-7a10-7e4b-9c1d-2f3a4b5c6d7e)" });
        var deleted = await DeleteAsync(store, budgetId, caller.OnlyAccount, caller.Actor, clock, ct);
        return deleted is null
            ? Results.NotFound(new ApiError { Error = $"no budget '{id}'" })
            : Results.Text(ToJson(deleted, []).ToJsonString(RecordJson.Options), "application/json");
    }

    /// <summary>Sets a budget: the first event of its own stream.</summary>
    public static async Task<Budget> SetAsync(IDocumentStore store, BudgetTerms terms, Actor by, IClock clock, CancellationToken ct)
    {
        var created = new BudgetCreated(Guid.CreateVersion7(), terms.AccountId, terms.Amount, terms.Thresholds, terms.Basis, terms.Name, clock.GetCurrentInstant(), by.ToString());
        await using var session = store.LightweightSession();
        session.LastModifiedBy = by.ToString();
        session.Events.StartStream<Budget>(Budget.StreamKey(created.BudgetId), created);
        await session.SaveChangesAsync(ct);
        return Budget.Create(created);
    }

    /// <summary>Deletes a budget in force; null when there is none by that id (or it is not <paramref name="onlyAccount"/>'s).</summary>
    public static async Task<Budget?> DeleteAsync(IDocumentStore store, Guid budgetId, string? onlyAccount, Actor by, IClock clock, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        var budget = await session.LoadAsync<Budget>(Budget.StreamKey(budgetId), ct);
        if (budget is null || budget.DeletedAt is not null || (onlyAccount is not null && budget.AccountId != onlyAccount)) return null;
        var deleted = new BudgetDeleted(budgetId, clock.GetCurrentInstant(), by.ToString());
        session.LastModifiedBy = by.ToString();
        session.Events.Append(budget.Id, deleted);
        await session.SaveChangesAsync(ct);
        budget.Apply(deleted);
        return budget;
    }

    /// <summary>The budgets in force (of one account, or every one), oldest first, each with its alerts, oldest first.</summary>
    public static async Task<IReadOnlyList<(Budget Budget, IReadOnlyList<BudgetAlert> Alerts)>> ListAsync(IQuerySession session, string? accountId, CancellationToken ct)
    {
        var budgets = accountId is null
            ? await session.Query<Budget>().Where(b => b.DeletedAt == null).ToListAsync(ct)
            : await session.Query<Budget>().Where(b => b.DeletedAt == null && b.AccountId == accountId).ToListAsync(ct);
        var ids = budgets.Select(b => b.BudgetId).ToArray();
        var alerts = ids.Length == 0 ? [] : await session.Query<BudgetAlert>().Where(a => a.BudgetId.IsOneOf(ids)).ToListAsync(ct);
        var byBudget = alerts.ToLookup(a => a.BudgetId);
        return budgets.OrderBy(b => b.CreatedAt).ThenBy(b => b.BudgetId)
            .Select(b => (b, (IReadOnlyList<BudgetAlert>)byBudget[b.BudgetId].OrderBy(a => a.Period, StringComparer.Ordinal).ThenBy(a => a.CrossedAt).ThenBy(a => a.Threshold).ToList()))
            .ToList();
    }

    /// <summary>A budget as the API and `budgets list --json` write it: money as strings with two places, instants in ISO-8601 UTC.</summary>
    public static JsonObject ToJson(Budget b, IReadOnlyList<BudgetAlert> alerts) => new()
    {
        ["id"] = b.BudgetId.ToString("D"),
        ["accountId"] = b.AccountId,
        ["name"] = b.Name,
        ["amount"] = Money.Format(b.Amount),
        ["currency"] = Money.Currency,
        ["thresholds"] = new JsonArray(b.Thresholds.Select(t => (JsonNode)t).ToArray()),
        ["basis"] = b.Basis.Wire(),
        ["createdAt"] = RecordParser.Format(b.CreatedAt),
        ["createdBy"] = b.CreatedBy,
        ["alerts"] = new JsonArray(alerts.Select(a => (JsonNode)new JsonObject
        {
            ["type"] = BudgetAlert.Type,
            ["period"] = a.Period,
            ["threshold"] = a.Threshold,
            ["basis"] = a.Basis.Wire(),
            ["amount"] = Money.Format(a.Amount),
            ["cost"] = Money.Format(a.Cost),
            ["currency"] = Money.Currency,
            ["crossedAt"] = RecordParser.Format(a.CrossedAt),
            ["triggeredAt"] = RecordParser.Format(a.TriggeredAt),
        }).ToArray()),
    };

    public sealed class CreateSettings : CommandSettings
    {
        [CommandOption("--account <ID>", isRequired: true), Description("the account (12 digits)")]
        public string? Account { get; init; }

        [CommandOption("--amount <USD>", isRequired: true), Description("the amount per billing period, like 100.00")]
        public string? Amount { get; init; }

        [CommandOption("--thresholds <LIST>"), Description("percentages of the amount that raise an alert, comma-separated; default 50,80,100")]
        public string? Thresholds { get; init; }

        [CommandOption("--basis <BASIS>"), Description("actual (the month-to-date cost) or forecast (its estimate to the period's end); default actual")]
        public string? Basis { get; init; }

        [CommandOption("--name <TEXT>"), Description("a name to know the budget by")]
        public string? Name { get; init; }
    }

    public sealed class ListSettings : CommandSettings
    {
        [CommandOption("--json"), Description("the JSON of GET /api/budgets instead of lines")]
        public bool Json { get; init; }
    }

    public sealed class DeleteSettings : CommandSettings
    {
        [CommandArgument(0, "<ID>"), Description("the budget's id, as `budgets create` printed it")]
        public string Id { get; init; } = "";
    }

    public static async Task<int> CreateCommandAsync(IServiceProvider services, CreateSettings args, CancellationToken ct)
    {
        var (terms, error) = BudgetTerms.Check(args.Account, args.Amount, args.Thresholds?.Split(',', StringSplitOptions.TrimEntries), args.Basis, args.Name);
        if (terms is null) throw new CliException(error!);
        var budget = await SetAsync(services.GetRequiredService<IDocumentStore>(), terms, Actor.CurrentUser, services.GetRequiredService<IClock>(), ct);
        Console.Error.WriteLine($"billing: budget of {Money.Format(budget.Amount)} USD a period for account {budget.AccountId}{(budget.Name is null ? "" : $" '{budget.Name}'")}, " +
                                $"alerting at {string.Join(", ", budget.Thresholds.Select(t => $"{t}%"))} of the {budget.Basis.Wire()} cost; its id follows");
        Console.WriteLine(budget.BudgetId.ToString("D"));
        return 0;
    }

    public static async Task<int> ListCommandAsync(IServiceProvider services, ListSettings args, CancellationToken ct)
    {
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var listed = await ListAsync(session, null, ct);
        if (args.Json)
        {
            Console.WriteLine(new JsonArray(listed.Select(b => (JsonNode)ToJson(b.Budget, b.Alerts)).ToArray()).ToJsonString(RecordJson.Options));
            return 0;
        }
        foreach (var (b, alerts) in listed)
        {
            Console.WriteLine($"{b.BudgetId:D}  {b.AccountId}  {Money.Format(b.Amount),12} USD  {b.Basis.Wire(),-8} at {string.Join(",", b.Thresholds)}%  {b.Name ?? "-"}");
            foreach (var a in alerts)
                Console.WriteLine($"    {BudgetAlert.Type} {a.Period} {a.Threshold}% of {a.Basis.Wire()}: {Money.Format(a.Cost)} of {Money.Format(a.Amount)} USD at {RecordParser.Format(a.CrossedAt)}");
        }
        Console.WriteLine($"{listed.Count} budgets, {listed.Sum(b => b.Alerts.Count)} alerts");
        return 0;
    }

    public static async Task<int> DeleteCommandAsync(IServiceProvider services, DeleteSettings args, CancellationToken ct)
    {
        if (!Guid.TryParseExact(args.Id, "D", out var id)) throw new CliException($"'{args.Id}' is not a budget id (billing budgets list shows them)");
        var deleted = await DeleteAsync(services.GetRequiredService<IDocumentStore>(), id, null, Actor.CurrentUser, services.GetRequiredService<IClock>(), ct)
                      ?? throw new CliException($"no budget '{args.Id}' (billing budgets list shows them)");
        Console.WriteLine($"deleted budget {deleted.BudgetId:D} of account {deleted.AccountId} at {RecordParser.Format(deleted.DeletedAt!.Value)}; its alerts stay");
        return 0;
    }
}
