using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;
using Microsoft.Net.Http.Headers;

namespace Billing.Host.Access;

/// <summary>
/// JWTs from the OpenID Connect issuer BILLING_JWT_AUTHORITY, beside API keys: a bearer token that is
/// not a <c>bk_</c> key is checked against the issuer's metadata and keys (issuer, audience, lifetime,
/// signature), and its claims become the same role, account and actor an API key gives, so the
/// policies and routes do not know which it was (docs/jwt.md).
/// </summary>
public static class JwtAuthentication
{
    public const string SchemeName = JwtBearerDefaults.AuthenticationScheme;

    /// <summary>The scheme the policies name: it sends each request to <see cref="ApiKeyAuthentication"/> or to <see cref="SchemeName"/>.</summary>
    public const string SelectorScheme = "Billing";

    /// <summary>Why a valid token may do nothing (no or an unknown role, an account role without an account): the 403's reason.</summary>
    public const string RefusedClaim = "billing:refused";

    public static readonly string[] Roles = ["producer", "operator", "account"];

    /// <summary>The schemes: API keys always, JWTs when an authority is configured, and the selector in front of them.</summary>
    public static void AddBillingAuthentication(this IServiceCollection services, BillingSettings settings)
    {
        var authority = settings.JwtAuthority is { } text ? AuthorityOf(text) : null;
        services.AddSingleton<KeysExist>();
        var auth = services.AddAuthentication(SelectorScheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null)
            .AddPolicyScheme(SelectorScheme, "API key or JWT", o => o.ForwardDefaultSelector = context =>
                authority is not null && IsJwtCandidate(context.Request) ? SchemeName : ApiKeyAuthentication.SchemeName);
        if (authority is null) return;
        auth.AddJwtBearer(SchemeName, o =>
        {
            o.Authority = authority.ToString().TrimEnd('/');
            o.Audience = settings.JwtAudience;
            // Metadata and keys over plain http only from this machine (a test's issuer); anywhere else they could be forged on the way.
            o.RequireHttpsMetadata = !authority.IsLoopback;
            // Claim names stay as the issuer wrote them, so a 'role' claim meant for another application never becomes a billing role.
            o.MapInboundClaims = false;
            o.TokenValidationParameters.ClockSkew = TimeSpan.FromMinutes(1);
            o.TokenValidationParameters.RequireExpirationTime = true;
            o.TokenValidationParameters.RequireSignedTokens = true;
            o.Events = new JwtBearerEvents
            {
                OnTokenValidated = context =>
                {
                    if (Subject(context.Principal!) is { } subject) context.Principal = Principal(context.Principal!, subject, settings);
                    else context.Fail("the token has no usable 'sub' claim (1-256 printable characters): the service records who did what");
                    return Task.CompletedTask;
                },
                // A failure outside the token's validation (the handler rethrows it) would be a 500; as a failed authentication it is answered below.
                OnAuthenticationFailed = context =>
                {
                    if (context.Result is null) context.Fail(context.Exception);
                    return Task.CompletedTask;
                },
                OnChallenge = async context =>
                {
                    context.HandleResponse();
                    var (status, error) = await RefusalAsync(context.AuthenticateFailure, context.Options, settings, context.HttpContext.RequestAborted);
                    context.Response.StatusCode = status;
                    if (status == StatusCodes.Status401Unauthorized) context.Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer realm=\"billing\", error=\"invalid_token\"";
                    // An issuer that does not answer is retried like a lost database (StoreUnavailable): the same request may succeed shortly.
                    else context.Response.Headers.RetryAfter = "5";
                    await context.Response.WriteAsJsonAsync(new { error }, context.HttpContext.RequestAborted);
                },
                OnForbidden = async context =>
                {
                    var user = context.HttpContext.User;
                    var error = user.FindFirstValue(RefusedClaim)
                        ?? $"the token of {user.Identity?.Name} ({user.FindFirstValue(ApiKeyAuthentication.RoleClaim)}) may not {context.Request.Method} {context.Request.Path}";
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
                    await context.Response.WriteAsJsonAsync(new { error }, context.HttpContext.RequestAborted);
                },
            };
        });
    }

    /// <summary>The authority as a URL; refused at start-up unless https, or http on loopback, so a bad setting never waits for the first request.</summary>
    public static Uri AuthorityOf(string authority) =>
        !Uri.TryCreate(authority, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")
            ? throw new InvalidOperationException($"BILLING_JWT_AUTHORITY '{authority}' is not the http(s) URL of an OpenID Connect issuer")
        : uri.Scheme == "http" && !uri.IsLoopback
            ? throw new InvalidOperationException($"BILLING_JWT_AUTHORITY '{authority}' must be https (plain http only for an issuer on this machine)")
        : uri;

    /// <summary>Whether the request carries one bearer token that is not an API key; everything else (no header, several, a bk_ key) is the key scheme's to answer.</summary>
    static bool IsJwtCandidate(HttpRequest request)
    {
        var headers = request.Headers.Authorization;
        return headers.Count == 1 && ApiKeyAuthentication.BearerToken(headers[0]) is { } token && !token.StartsWith(ApiKeyToken.Prefix, StringComparison.Ordinal);
    }

    static string? Subject(ClaimsPrincipal token) =>
        token.FindAll("sub").ToList() is [{ Value: { Length: > 0 and <= 256 } sub }] && !sub.Any(char.IsControl) ? sub : null;

    /// <summary>The principal the routes read, built afresh from the token so that only these claims count: the actor, and the role and account or why there are none.</summary>
    public static ClaimsPrincipal Principal(ClaimsPrincipal token, string subject, BillingSettings settings)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, Actor.Jwt(subject).ToString()) };
        var roles = token.FindAll(settings.JwtRoleClaim).Select(c => c.Value).ToList();
        var accounts = token.FindAll(settings.JwtAccountClaim).Select(c => c.Value).ToList();
        var refused = roles switch
        {
            [] => $"the token has no '{settings.JwtRoleClaim}' claim: it names the role, one of {string.Join(", ", Roles)}",
            [var role] when !Roles.Contains(role) => $"the token's '{settings.JwtRoleClaim}' is '{role}', not one of {string.Join(", ", Roles)}",
            ["account"] when accounts is not [{ Length: 12 } account] || !account.All(char.IsAsciiDigit) =>
                $"an account token needs '{settings.JwtAccountClaim}' with the account's id (12 digits){(accounts is [] ? "" : $", not '{string.Join("', '", accounts)}'")}",
            [_] => null,
            _ => $"the token has {roles.Count} '{settings.JwtRoleClaim}' values; it needs exactly one",
        };
        if (refused is not null) claims.Add(new Claim(RefusedClaim, refused));
        else
        {
            claims.Add(new Claim(ApiKeyAuthentication.RoleClaim, roles[0]));
            // Only an account token is limited to an account; an account claim on another role is ignored (docs/jwt.md).
            if (roles[0] == "account") claims.Add(new Claim(ApiKeyAuthentication.AccountClaim, accounts[0]));
        }
        return new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName, ClaimTypes.Name, ApiKeyAuthentication.RoleClaim));
    }

    /// <summary>The status and reason for a token that did not authenticate: 401 with what is wrong with it, or 503 when the issuer cannot be asked.</summary>
    static async Task<(int Status, string Error)> RefusalAsync(Exception? failure, JwtBearerOptions options, BillingSettings settings, CancellationToken ct)
    {
        var authority = settings.JwtAuthority;
        switch (failure)
        {
            case SecurityTokenExpiredException e: return (401, $"the token expired at {e.Expires:yyyy-MM-ddTHH:mm:ssZ}");
            case SecurityTokenNotYetValidException e: return (401, $"the token is not valid before {e.NotBefore:yyyy-MM-ddTHH:mm:ssZ}");
            case SecurityTokenNoExpirationException: return (401, "the token has no expiry ('exp')");
            case SecurityTokenInvalidAudienceException: return (401, $"the token is not for this service: its audience is not '{settings.JwtAudience}'");
            case SecurityTokenInvalidLifetimeException: return (401, "the token's lifetime is not valid");
            case SecurityTokenMalformedException: return (401, "the bearer token is neither a billing API key (bk_…) nor a JWT");
            case SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidIssuerException
                when !await IssuerAnswersAsync(options, ct):
                return (503, $"the token's issuer {authority} does not answer, so its keys are unknown; retry later");
            case SecurityTokenInvalidIssuerException: return (401, $"the token was not issued by {authority}");
            case SecurityTokenInvalidSignatureException: return (401, $"the token's signature does not verify with the keys of {authority}");
            case SecurityTokenException e: return (401, $"the token was refused ({e.GetType().Name})");
            case AuthenticationFailureException e: return (401, e.Message);
            case null: return (401, "this route needs an API key or a JWT: send 'Authorization: Bearer <token>'");
            default: return (503, $"the token could not be checked against {authority}; retry later");
        }
    }

    /// <summary>Whether the issuer's metadata can be read: without it every token fails the same way, and the reason should say so.</summary>
    static async Task<bool> IssuerAnswersAsync(JwtBearerOptions options, CancellationToken ct)
    {
        try
        {
            return options.ConfigurationManager is null || await options.ConfigurationManager.GetConfigurationAsync(ct) is not null;
        }
        catch (Exception e) when (e is InvalidOperationException or HttpRequestException or IOException)
        {
            return false;
        }
    }
}
