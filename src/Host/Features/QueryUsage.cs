using System.ComponentModel;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Metering;
using Marten;
using Marten.Events;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// An account's usage for a period: GET /api/usage/{accountId}/{period} and
/// `billing usage --account A --period YYYY-MM [--json]`.
/// </summary>
public static class QueryUsage
{
    public static void Map(WebApplication app) =>
        app.MapGet("/api/usage/{accountId}/{period}", async (string accountId, string period, Caller caller, HttpContext context, IQuerySession session, BillingSettings settings, CancellationToken ct) =>
        {
            if (Validate(accountId, period) is { } error) return Results.BadRequest(new { error });
            // Another account's usage is answered as a route that does not exist: an account key learns nothing of it.
            if (!caller.MayRead(accountId)) return Policies.NotFound(context);
            var usage = await UsageQueries.ForAccountAsync(session, accountId, BillingPeriod.Parse(period), settings.LateWindow, ct);
            return Results.Text(ToJson(usage).ToJsonString(RecordJson.Options), "application/json");
        })
            .WithName("GetAccountUsage")
            .WithTags("usage")
            .WithSummary("An account's usage in a period")
            .WithDescription("Endpoint hours and data processed as payer, cross-AZ traffic as owner; hours and bytes as integers, GB as strings with 9 places. An account key reads only its own account; any other is answered 404.")
            .Produces<AccountUsageDocument>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.ReadAccounts);

    public static string? Validate(string? accountId, string? period) =>
        accountId is null || accountId.Length != 12 || !accountId.All(char.IsAsciiDigit) ? $"'{accountId}' is not an account id (12 digits)"
        : !BillingPeriod.TryParse(period, out _) ? $"'{period}' is not a billing period like 2026-10 (YYYY-MM)"
        : null;

    /// <summary>The usage JSON of the interface: hours and bytes as integers, GB as strings with 9 places.</summary>
    public static JsonObject ToJson(AccountUsage usage) => new()
    {
        ["accountId"] = usage.AccountId,
        ["period"] = usage.Period.ToString(),
        ["endpointHours"] = new JsonArray(usage.EndpointHours.Select(h => (JsonNode)new JsonObject
        {
            ["region"] = h.Region, ["endpointType"] = h.EndpointType.ToString(), ["azId"] = h.AzId, ["hours"] = h.Hours,
        }).ToArray()),
        ["dataProcessed"] = new JsonArray(usage.DataProcessed.Select(d => (JsonNode)new JsonObject
        {
            ["region"] = d.Region, ["pool"] = d.Pool, ["bytes"] = d.Bytes, ["gb"] = Gigabytes.Format(d.Gb),
        }).ToArray()),
        ["crossAz"] = new JsonArray(usage.CrossAz.Select(c => (JsonNode)new JsonObject
        {
            ["region"] = c.Region, ["bytes"] = c.Bytes, ["gb"] = Gigabytes.Format(c.Gb),
        }).ToArray()),
    };

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--account <ID>", isRequired: true), Description("the account (12 digits)")]
        public string? Account { get; init; }

        [CommandOption("--period <YYYY-MM>", isRequired: true), Description("the billing period")]
        public string? Period { get; init; }

        [CommandOption("--json"), Description("the JSON of GET /api/usage/{accountId}/{period} instead of a table")]
        public bool Json { get; init; }
    }

    public static async Task<int> RunAsync(IServiceProvider services, Settings args, CancellationToken ct)
    {
        var account = args.Account;
        var periodText = args.Period;
        if (Validate(account, periodText) is { } error) throw new CliException(error);
        var store = services.GetRequiredService<IDocumentStore>();
        await store.WaitForProjectionsAsync(TimeSpan.FromMinutes(5));
        await using var session = store.QuerySession();
        var usage = await UsageQueries.ForAccountAsync(session, account!, BillingPeriod.Parse(periodText!), services.GetRequiredService<BillingSettings>().LateWindow, ct);
        if (args.Json)
        {
            Console.WriteLine(ToJson(usage).ToJsonString(RecordJson.Options));
            return 0;
        }
        Console.WriteLine($"Usage of account {usage.AccountId} in {usage.Period}");
        foreach (var h in usage.EndpointHours) Console.WriteLine($"  endpoint-hours  {h.Region,-15} {h.EndpointType,-20} {h.AzId,-10} {h.Hours,8} h");
        foreach (var d in usage.DataProcessed) Console.WriteLine($"  data processed  {d.Region,-15} {d.Pool,-20} {Gigabytes.Format(d.Gb),22} GB");
        foreach (var c in usage.CrossAz) Console.WriteLine($"  cross-AZ        {c.Region,-15} {"",-20} {Gigabytes.Format(c.Gb),22} GB");
        return 0;
    }
}
