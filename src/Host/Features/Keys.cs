using System.ComponentModel;
using System.Text.Json.Nodes;
using Billing.Host.Access;
using Marten;
using NodaTime;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// The API keys: `billing keys create --role producer|operator|account [--account ID] [--name TEXT]`
/// prints a new key's token once (on stdout alone, so a script can capture it); `billing keys list`
/// and `billing keys revoke ID` manage them. Whoever runs the verb is recorded as creator or revoker.
/// </summary>
public static class Keys
{
    public sealed class CreateSettings : CommandSettings
    {
        [CommandOption("--role <ROLE>", isRequired: true), Description("producer (posts usage), operator (everything) or account (reads one account's data)")]
        public string? Role { get; init; }

        [CommandOption("--account <ID>"), Description("the account an account key reads (12 digits)")]
        public string? Account { get; init; }

        [CommandOption("--name <TEXT>"), Description("a name to know the key by in lists and records (letters, digits, - _ .); default the role")]
        public string? Name { get; init; }
    }

    public sealed class ListSettings : CommandSettings
    {
        [CommandOption("--json"), Description("a JSON array instead of lines")]
        public bool Json { get; init; }
    }

    public sealed class RevokeSettings : CommandSettings
    {
        [CommandArgument(0, "<ID>"), Description("the key's id, as `keys list` shows it")]
        public string Id { get; init; } = "";
    }

    public static async Task<int> CreateCommandAsync(IServiceProvider services, CreateSettings args, CancellationToken ct)
    {
        var (key, token) = await CreateAsync(services, args.Role, args.Account, args.Name, Actor.CurrentUser, ct);
        Console.Error.WriteLine($"billing: created {key.Role.ToString().ToLowerInvariant()} key {key.Id} '{key.Name}'{(key.AccountId is null ? "" : $" for account {key.AccountId}")}; its token follows and is not shown again");
        Console.WriteLine(token);
        return 0;
    }

    /// <summary>Creates a key; the token is returned once and only its hash is stored.</summary>
    public static async Task<(ApiKey Key, string Token)> CreateAsync(IServiceProvider services, string? roleText, string? account, string? name, Actor by, CancellationToken ct)
    {
        if (!Enum.TryParse<KeyRole>(roleText, ignoreCase: true, out var role) || !Enum.IsDefined(role) || roleText!.Any(char.IsDigit))
            throw new CliException($"--role must be producer, operator or account, not '{roleText}'");
        name ??= role.ToString().ToLowerInvariant();
        if (ApiKeyToken.Refuse(role, account, name) is { } refused) throw new CliException(refused);
        var (key, token) = ApiKeyToken.Create(role, account, name, by, services.GetRequiredService<IClock>().GetCurrentInstant());
        await using var session = services.GetRequiredService<IDocumentStore>().LightweightSession();
        session.Insert(key);
        await session.SaveChangesAsync(ct);
        return (key, token);
    }

    public static async Task<int> ListCommandAsync(IServiceProvider services, ListSettings args, CancellationToken ct)
    {
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var keys = (await session.Query<ApiKey>().ToListAsync(ct)).OrderBy(k => k.CreatedAt).ToList();
        if (args.Json)
        {
            Console.WriteLine(new JsonArray(keys.Select(k => (JsonNode)new JsonObject
            {
                ["id"] = k.Id, ["name"] = k.Name, ["role"] = k.Role.ToString().ToLowerInvariant(), ["accountId"] = k.AccountId,
                ["createdAt"] = Billing.Events.RecordParser.Format(k.CreatedAt), ["createdBy"] = k.CreatedBy,
                ["revokedAt"] = k.RevokedAt is { } r ? Billing.Events.RecordParser.Format(r) : null, ["revokedBy"] = k.RevokedBy,
            }).ToArray()).ToJsonString(Billing.Events.RecordJson.Options));
            return 0;
        }
        foreach (var k in keys)
            Console.WriteLine($"{k.Id}  {k.Role.ToString().ToLowerInvariant(),-8} {k.Name,-24} {k.AccountId ?? "-",-12}  created {Billing.Events.RecordParser.Format(k.CreatedAt)} by {k.CreatedBy}"
                              + (k.RevokedAt is { } at ? $"  REVOKED {Billing.Events.RecordParser.Format(at)} by {k.RevokedBy}" : ""));
        Console.WriteLine($"{keys.Count} keys, {keys.Count(k => k.RevokedAt is null)} active");
        return 0;
    }

    public static async Task<int> RevokeCommandAsync(IServiceProvider services, RevokeSettings args, CancellationToken ct)
    {
        var key = await RevokeAsync(services, args.Id, Actor.CurrentUser, ct);
        Console.WriteLine($"revoked key {key.Id} '{key.Name}' at {Billing.Events.RecordParser.Format(key.RevokedAt!.Value)}; it is refused from the next request on");
        return 0;
    }

    /// <summary>Revokes a key (a key revoked before keeps its first revocation).</summary>
    public static async Task<ApiKey> RevokeAsync(IServiceProvider services, string id, Actor by, CancellationToken ct)
    {
        await using var session = services.GetRequiredService<IDocumentStore>().LightweightSession();
        var key = await session.LoadAsync<ApiKey>(id, ct) ?? throw new CliException($"no key '{id}' (billing keys list shows them)");
        if (key.RevokedAt is not null) return key;
        var revoked = key with { RevokedAt = services.GetRequiredService<IClock>().GetCurrentInstant(), RevokedBy = by.ToString() };
        session.Update(revoked);
        await session.SaveChangesAsync(ct);
        return revoked;
    }
}
