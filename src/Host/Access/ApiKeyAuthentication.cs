using System.Security.Claims;
using System.Text.Encodings.Web;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Billing.Host.Access;

/// <summary>
/// Authenticates <c>Authorization: Bearer bk_…</c> against the stored keys, on every request: a key
/// revoked a moment ago is refused from the next request on, on every node, because nothing caches it.
/// A refusal is 401 with the reason in <c>{"error"}</c>; until a first key exists the reason says how
/// to create one. Under /console only, a request without an Authorization header may carry the same
/// token in the console's cookie (<see cref="WebConsole.ConsoleAuth"/>), and a refusal there redirects to
/// the sign-in page instead.
/// </summary>
public sealed class ApiKeyAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, IDocumentStore store, KeysExist keysExist)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string RoleClaim = ClaimTypes.Role;
    public const string AccountClaim = "billing:account";
    public const string KeyIdClaim = "billing:key_id";

    public const string NoKeyYet = "no API key exists yet: create the first with `billing keys create --role operator --name NAME` and send it as 'Authorization: Bearer <key>'";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var headers = Request.Headers.Authorization;
        if (headers.Count == 0)
            return WebConsole.ConsoleAuth.IsConsole(Request) && Request.Cookies[WebConsole.ConsoleAuth.CookieName] is { Length: > 0 } cookie
                ? await AuthenticateAsync(cookie, "the console's cookie does not hold a billing API key")
                : AuthenticateResult.NoResult();
        if (headers.Count > 1) return AuthenticateResult.Fail("send one Authorization header, not several");
        if (BearerToken(headers[0]) is not { } token) return AuthenticateResult.Fail("the Authorization header must be 'Bearer <key>'");
        return await AuthenticateAsync(token, "the bearer token is not a billing API key (bk_…)");
    }

    /// <summary>The token of an Authorization header <c>Bearer {token}</c>; null when the header is of another shape or carries none.</summary>
    public static string? BearerToken(string? header)
    {
        const string bearer = "Bearer ";
        return header is not null && header.StartsWith(bearer, StringComparison.OrdinalIgnoreCase) && header[bearer.Length..].Trim() is { Length: > 0 } token ? token : null;
    }

    async Task<AuthenticateResult> AuthenticateAsync(string token, string notAKey) =>
        await VerifyAsync(store, token, notAKey, Context.RequestAborted) switch
        {
            ({ } key, null) => AuthenticateResult.Success(new AuthenticationTicket(Principal(key), SchemeName)),
            (_, var error) => AuthenticateResult.Fail(error!),
        };

    /// <summary>The stored key a token proves, or why it proves none: the one check for a header, the console's cookie and its sign-in form.</summary>
    public static async Task<(ApiKey? Key, string? Error)> VerifyAsync(IDocumentStore store, string token, string notAKey, CancellationToken ct)
    {
        if (ApiKeyToken.IdOf(token) is not { } id) return (null, notAKey);
        await using var session = store.QuerySession();
        var key = await session.LoadAsync<ApiKey>(id, ct);
        if (key is null || !key.Matches(token)) return (null, "unknown API key");
        if (key.RevokedAt is not null) return (null, $"the API key {key.Id} was revoked");
        return (key, null);
    }

    public static ClaimsPrincipal Principal(ApiKey key)
    {
        var claims = new List<Claim>
        {
            new(ClaimTypes.Name, key.Actor.ToString()),
            new(KeyIdClaim, key.Id),
            new(RoleClaim, key.Role.ToString().ToLowerInvariant()),
        };
        if (key.AccountId is { } account) claims.Add(new Claim(AccountClaim, account));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName, ClaimTypes.Name, RoleClaim));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        // A person in a browser, not a client: the console's pages send them to its sign-in form.
        if (WebConsole.ConsoleAuth.IsConsole(Request))
        {
            Response.Redirect(WebConsole.ConsoleAuth.SignInPath);
            return;
        }
        var result = await HandleAuthenticateOnceSafeAsync();
        var error = !await keysExist.AnyAsync(Context.RequestAborted) ? NoKeyYet
            : result.Failure?.Message ?? "this route needs an API key: send 'Authorization: Bearer <key>'";
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers[HeaderNames.WWWAuthenticate] = result.Failure is null ? "Bearer realm=\"billing\"" : "Bearer realm=\"billing\", error=\"invalid_token\"";
        await Response.WriteAsJsonAsync(new { error }, Context.RequestAborted);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        var caller = Caller.Of(Context.User);
        await Response.WriteAsJsonAsync(new { error = $"the key {caller.Actor.KeyId} ({caller.Role.ToString().ToLowerInvariant()}) may not {Request.Method} {Request.Path}" }, Context.RequestAborted);
    }
}
