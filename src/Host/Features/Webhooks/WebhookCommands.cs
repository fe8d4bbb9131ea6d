using System.ComponentModel;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Host.Access;
using Marten;
using Marten.Patching;
using NodaTime;
using Spectre.Console.Cli;
using Wolverine;
using Wolverine.Marten;

namespace Billing.Host.Features.Webhooks;

/// <summary>
/// The operator's verbs: `webhooks create --url URL [--account ID] [--events a,b]` prints the new
/// endpoint's id and secret once; `webhooks list`, `webhooks delete ID`,
/// `webhooks deliveries [--endpoint ID] [--json]` (every attempt of every delivery) and
/// `webhooks replay --delivery ID` (sends the message again, as a new run of attempts).
/// </summary>
public static class WebhookCommands
{
    public sealed class CreateSettings : CommandSettings
    {
        [CommandOption("--url <URL>", isRequired: true), Description("where events are posted: an http or https URL of a public address")]
        public string? Url { get; init; }

        [CommandOption("--account <ID>"), Description("only this account's events (12 digits); default every account's")]
        public string? Account { get; init; }

        [CommandOption("--events <TYPES>"), Description("comma-separated: budget.threshold_crossed, invoice.issued, invoice.pdf_ready; default all three")]
        public string? Events { get; init; }
    }

    public sealed class ListSettings : CommandSettings
    {
        [CommandOption("--json"), Description("a JSON array instead of lines")]
        public bool Json { get; init; }
    }

    public sealed class DeleteSettings : CommandSettings
    {
        [CommandArgument(0, "<ID>"), Description("the endpoint's id, as `webhooks list` shows it")]
        public string Id { get; init; } = "";
    }

    public sealed class DeliveriesSettings : CommandSettings
    {
        [CommandOption("--endpoint <ID>"), Description("only the deliveries to this endpoint")]
        public string? Endpoint { get; init; }

        [CommandOption("--limit <N>"), Description("the latest N deliveries (default 100)")]
        public int Limit { get; init; } = 100;

        [CommandOption("--json"), Description("a JSON array, every attempt included, instead of lines")]
        public bool Json { get; init; }
    }

    public sealed class ReplaySettings : CommandSettings
    {
        [CommandOption("--delivery <ID>", isRequired: true), Description("the delivery to send again, as `webhooks deliveries` shows it")]
        public string? Delivery { get; init; }
    }

    public static async Task<int> CreateCommandAsync(IServiceProvider services, CreateSettings args, CancellationToken ct)
    {
        var (endpoint, warning) = await CreateAsync(services, args.Url, args.Account, args.Events, Actor.CurrentUser, ct);
        if (warning is not null) Console.Error.WriteLine($"billing: {warning}");
        Console.Error.WriteLine($"billing: created webhook endpoint {endpoint.Id} for {string.Join(", ", endpoint.Events)} of {(endpoint.AccountId is null ? "every account" : $"account {endpoint.AccountId}")} at {endpoint.Url}; its id and signing secret follow, and the secret is not shown again");
        Console.WriteLine($"{endpoint.Id} {endpoint.Secret}");
        return 0;
    }

    /// <summary>Creates an endpoint; refuses a URL that can never be delivered to, and warns when its name does not resolve now.</summary>
    public static async Task<(WebhookEndpoint Endpoint, string? Warning)> CreateAsync(IServiceProvider services, string? url, string? account, string? events, Actor by, CancellationToken ct)
    {
        var settings = services.GetRequiredService<BillingSettings>().Webhooks ?? WebhookSettings.Default;
        if (WebhookAddresses.RefuseUrl(url ?? "", settings.AllowPrivate, out var uri) is { } refused) throw new CliException(refused);
        if (account is not null && (account.Length != 12 || !account.All(char.IsAsciiDigit)))
            throw new CliException($"--account is an account's id (12 digits), not '{account}'");
        var types = ParseEvents(events);
        var warning = settings.AllowPrivate ? null : await CheckNameAsync(uri!, ct);
        var endpoint = new WebhookEndpoint
        {
            Id = "ep_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            Url = uri!.AbsoluteUri,
            AccountId = account,
            Events = types,
            Secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            CreatedAt = services.GetRequiredService<IClock>().GetCurrentInstant(),
            CreatedBy = by.ToString(),
        };
        await using var session = services.GetRequiredService<IDocumentStore>().LightweightSession();
        session.Insert(endpoint);
        await session.SaveChangesAsync(ct);
        return (endpoint, warning);
    }

    static IReadOnlyList<string> ParseEvents(string? events)
    {
        if (events is null) return BillingEvent.Types;
        var types = events.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal).ToList();
        if (types.Count == 0) throw new CliException("--events names at least one event type: " + string.Join(", ", BillingEvent.Types));
        if (types.FirstOrDefault(t => !BillingEvent.Types.Contains(t, StringComparer.Ordinal)) is { } unknown)
            throw new CliException($"unknown event type '{unknown}'; the types are {string.Join(", ", BillingEvent.Types)}");
        return types.Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>A name that resolves to a refused address now is refused now (every delivery checks again, at connect time).</summary>
    static async Task<string?> CheckNameAsync(Uri uri, CancellationToken ct)
    {
        if (IPAddress.TryParse(uri.DnsSafeHost, out _)) return null;
        IPAddress[] addresses;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(5));
            addresses = await Dns.GetHostAddressesAsync(uri.DnsSafeHost, deadline.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return $"{uri.DnsSafeHost} does not resolve now ({e.Message}); each delivery resolves it again";
        }
        return WebhookAddresses.RefuseResolved(uri.DnsSafeHost, addresses) is { } refused ? throw new CliException(refused) : null;
    }

    public static async Task<int> ListCommandAsync(IServiceProvider services, ListSettings args, CancellationToken ct)
    {
        var endpoints = await ListAsync(services, ct);
        if (args.Json)
        {
            Console.WriteLine(new JsonArray(endpoints.Select(e => (JsonNode)new JsonObject
            {
                ["id"] = e.Id, ["url"] = e.Url, ["accountId"] = e.AccountId, ["events"] = new JsonArray(e.Events.Select(t => (JsonNode)t).ToArray()),
                ["createdAt"] = RecordParser.Format(e.CreatedAt), ["createdBy"] = e.CreatedBy,
            }).ToArray()).ToJsonString(RecordJson.Options));
            return 0;
        }
        foreach (var e in endpoints)
            Console.WriteLine($"{e.Id}  {e.AccountId ?? "all",-12}  {string.Join(',', e.Events),-56}  {e.Url}  created {RecordParser.Format(e.CreatedAt)} by {e.CreatedBy}");
        Console.WriteLine($"{endpoints.Count} webhook endpoints");
        return 0;
    }

    public static async Task<List<WebhookEndpoint>> ListAsync(IServiceProvider services, CancellationToken ct)
    {
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        return (await session.Query<WebhookEndpoint>().ToListAsync(ct)).Where(e => e.DeletedAt is null).OrderBy(e => e.CreatedAt).ThenBy(e => e.Id, StringComparer.Ordinal).ToList();
    }

    public static async Task<int> DeleteCommandAsync(IServiceProvider services, DeleteSettings args, CancellationToken ct)
    {
        var endpoint = await DeleteAsync(services, args.Id, Actor.CurrentUser, ct);
        Console.WriteLine($"deleted webhook endpoint {endpoint.Id} ({endpoint.Url}); nothing more is sent to it");
        return 0;
    }

    public static async Task<WebhookEndpoint> DeleteAsync(IServiceProvider services, string id, Actor by, CancellationToken ct)
    {
        await using var session = services.GetRequiredService<IDocumentStore>().LightweightSession();
        var endpoint = await session.LoadAsync<WebhookEndpoint>(id, ct);
        if (endpoint is null || endpoint.DeletedAt is not null) throw new CliException($"no webhook endpoint '{id}' (billing webhooks list shows them)");
        var deleted = endpoint with { DeletedAt = services.GetRequiredService<IClock>().GetCurrentInstant(), DeletedBy = by.ToString() };
        session.Update(deleted);
        await session.SaveChangesAsync(ct);
        return deleted;
    }

    public static async Task<int> DeliveriesCommandAsync(IServiceProvider services, DeliveriesSettings args, CancellationToken ct)
    {
        if (args.Limit <= 0) throw new CliException($"--limit must be a positive whole number, not '{args.Limit}'");
        var deliveries = await DeliveriesAsync(services, args.Endpoint, args.Limit, ct);
        if (args.Json)
        {
            Console.WriteLine(new JsonArray(deliveries.Select(d => (JsonNode)ToJson(d.Delivery, d.Url)).ToArray()).ToJsonString(RecordJson.Options));
            return 0;
        }
        foreach (var (d, url) in deliveries)
        {
            Console.WriteLine($"{d.Id}  {d.Type,-24}  {d.AccountId,-12}  {d.Status,-9}  {d.Attempts.Count} attempts  webhook-id {d.MessageId}  to {d.EndpointId} {url}"
                              + (d.NextAttemptAt is { } next && d.Status == DeliveryStatus.Pending ? $"  next {RecordParser.Format(next)}" : ""));
            foreach (var a in d.Attempts)
                Console.WriteLine($"    {a.Run}.{a.Attempt}  {a.Trigger,-6}  {RecordParser.Format(a.At)}  {a.Status,-9}  {(a.ResponseCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"),3}  {a.DurationMs,6} ms  {a.Error}");
        }
        Console.WriteLine($"{deliveries.Count} deliveries");
        return 0;
    }

    public static async Task<List<(WebhookDelivery Delivery, string? Url)>> DeliveriesAsync(IServiceProvider services, string? endpointId, int limit, CancellationToken ct)
    {
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var query = session.Query<WebhookDelivery>().AsQueryable();
        if (endpointId is not null) query = query.Where(d => d.EndpointId == endpointId);
        var deliveries = await query.OrderByDescending(d => d.CreatedAt).ThenBy(d => d.Id).Take(limit).ToListAsync(ct);
        var urls = (await session.LoadManyAsync<WebhookEndpoint>(ct, deliveries.Select(d => d.EndpointId).Distinct())).ToDictionary(e => e.Id, e => e.Url);
        return deliveries.Select(d => (d, urls.GetValueOrDefault(d.EndpointId))).ToList();
    }

    public static JsonObject ToJson(WebhookDelivery d, string? url) => new()
    {
        ["id"] = d.Id, ["webhookId"] = d.MessageId, ["endpointId"] = d.EndpointId, ["url"] = url, ["type"] = d.Type, ["accountId"] = d.AccountId,
        ["status"] = d.Status, ["createdAt"] = RecordParser.Format(d.CreatedAt), ["run"] = d.Run,
        ["nextAttemptAt"] = d.NextAttemptAt is { } next && d.Status == DeliveryStatus.Pending ? RecordParser.Format(next) : null,
        ["attempts"] = new JsonArray(d.Attempts.Select(a => (JsonNode)new JsonObject
        {
            ["run"] = a.Run, ["attempt"] = a.Attempt, ["trigger"] = a.Trigger, ["at"] = RecordParser.Format(a.At), ["status"] = a.Status,
            ["responseCode"] = a.ResponseCode, ["durationMs"] = a.DurationMs, ["error"] = a.Error, ["response"] = a.Response,
        }).ToArray()),
    };

    public static async Task<int> ReplayCommandAsync(IServiceProvider services, ReplaySettings args, CancellationToken ct)
    {
        var (id, run) = await ReplayAsync(services, args.Delivery!, ct);
        Console.Error.WriteLine($"billing: delivery {id} sent again (run {run}); waiting for its attempt");
        // The attempt is made by whichever node polls the queue first (this process too): wait for its record.
        var wait = services.GetRequiredService<WebhookSettings>().Timeout + TimeSpan.FromSeconds(30);
        var started = System.Diagnostics.Stopwatch.GetTimestamp(); // a wait, not an instant: the monotonic clock
        while (System.Diagnostics.Stopwatch.GetElapsedTime(started) < wait)
        {
            await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
            var delivery = await session.LoadAsync<WebhookDelivery>(id, ct);
            if (delivery?.Attempts.FirstOrDefault(a => a.Run == run && a.Attempt == 1) is { } attempt)
            {
                Console.WriteLine($"{id} run {run}: {attempt.Status} {(attempt.ResponseCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-")} in {attempt.DurationMs} ms{(attempt.Error is null ? "" : $": {attempt.Error}")}");
                return attempt.Status == AttemptOutcome.Succeeded ? 0 : 1;
            }
            await Task.Delay(200, ct);
        }
        Console.WriteLine($"{id} run {run}: queued; no attempt logged yet (billing webhooks deliveries shows it when made)");
        return 0;
    }

    /// <summary>Starts a new run of the delivery: its retries begin again, with the same webhook-id and body; the old run's pending retries are dropped.</summary>
    public static async Task<(string Id, int Run)> ReplayAsync(IServiceProvider services, string id, CancellationToken ct)
    {
        var now = services.GetRequiredService<IClock>().GetCurrentInstant();
        await using var session = services.GetRequiredService<IDocumentStore>().LightweightSession();
        var delivery = await session.LoadAsync<WebhookDelivery>(id, ct) ?? throw new CliException($"no delivery '{id}' (billing webhooks deliveries shows them)");
        if (await session.LoadAsync<WebhookEndpoint>(delivery.EndpointId, ct) is not { DeletedAt: null })
            throw new CliException($"delivery {id} was to endpoint {delivery.EndpointId}, which is deleted: nothing is sent to it");
        using var scope = services.CreateScope();
        var outbox = scope.ServiceProvider.GetRequiredService<IMartenOutbox>();
        outbox.Enroll(session);
        var (was, run) = (delivery.Run, delivery.Run + 1);
        session.Patch<WebhookDelivery>(d => d.Id == id && d.Run == was)
            .Set(d => d.Run, run)
            .Set(d => d.Status, DeliveryStatus.Pending)
            .Set(d => d.RunStartedAt, now)
            .Set(d => d.NextAttemptAt, (Instant?)now);
        await outbox.SendAsync(new DeliverWebhook(id, run, 1));
        await session.SaveChangesAsync(ct);
        return (id, run);
    }
}
