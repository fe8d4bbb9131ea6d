using System.Reflection;
using System.Security.Claims;

namespace Billing.Host.Access;

/// <summary>
/// The authenticated key behind a request, as the routes need it: its role, its account and who to
/// record. Bound as a route parameter; an account key reads only <see cref="AccountId"/>.
/// </summary>
public sealed record Caller(KeyRole Role, string? AccountId, Actor Actor)
{
    public static Caller Of(ClaimsPrincipal user) => new(
        Enum.TryParse<KeyRole>(user.FindFirstValue(ApiKeyAuthentication.RoleClaim), ignoreCase: true, out var role) ? role : KeyRole.Account,
        user.FindFirstValue(ApiKeyAuthentication.AccountClaim),
        Actor.Parse(user.Identity?.Name) ?? throw new InvalidOperationException("an authenticated request without an actor"));

    public static ValueTask<Caller?> BindAsync(HttpContext context, ParameterInfo parameter) => ValueTask.FromResult<Caller?>(Of(context.User));

    /// <summary>Whether this caller may read the account's usage and invoices: an operator reads every account, an account key its own.</summary>
    public bool MayRead(string accountId) => Role == KeyRole.Operator || (Role == KeyRole.Account && string.Equals(AccountId, accountId, StringComparison.Ordinal));

    /// <summary>The one account an account key is limited to; null for an operator, who reads them all.</summary>
    public string? OnlyAccount => Role == KeyRole.Operator ? null : AccountId ?? "";
}
