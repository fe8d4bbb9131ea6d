using Billing.Host.Access;
using Marten;
using Microsoft.AspNetCore.Antiforgery;

namespace Billing.Host.WebConsole;

/// <summary>
/// Signing in to the console with an API key. The sign-in form takes the key's token and, once it is
/// verified exactly as a bearer token is, stores it in an HttpOnly, SameSite=Strict cookie scoped to
/// /console (Secure over https); <see cref="ApiKeyAuthentication"/> reads that cookie under /console only,
/// so /api keeps accepting nothing but the Authorization header. The key is checked again on every page,
/// so revoking it signs the console out on its next request. The two POSTs (sign-in, sign-out) also carry
/// an antiforgery token: SameSite=Strict already keeps other sites' forms from riding the cookie, and the
/// token stops a forged sign-in (another site signing a visitor in with the attacker's key), which the
/// cookie's SameSite cannot, since that request carries no cookie at all.
/// </summary>
public static class ConsoleAuth
{
    public const string Root = "/console";
    public const string SignInPath = "/console/sign-in";
    public const string SignOutPath = "/console/sign-out";
    public const string CookieName = "billing_console";
    public const string AntiforgeryCookieName = "billing_console_csrf";

    /// <summary>Whether the request is the console's, the only place the cookie counts.</summary>
    public static bool IsConsole(HttpRequest request) => request.Path.StartsWithSegments(Root);

    public static void AddBillingConsole(this IServiceCollection services) =>
        services.AddAntiforgery(options =>
        {
            options.Cookie.Name = AntiforgeryCookieName;
            options.Cookie.Path = Root;
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.FormFieldName = "__csrf";
        });

    public static void Map(WebApplication app)
    {
        app.MapGet(SignInPath, (HttpContext context, IAntiforgery antiforgery) => SignInPage(context, antiforgery, null, StatusCodes.Status200OK))
            .AllowAnonymous().ExcludeFromDescription();
        app.MapPost(SignInPath, async (HttpContext context, IAntiforgery antiforgery, IDocumentStore store, CancellationToken ct) =>
        {
            if (await Forged(context, antiforgery) is { } refused) return refused;
            var token = (await context.Request.ReadFormAsync(ct))["key"].ToString().Trim();
            var (found, error) = await ApiKeyAuthentication.VerifyAsync(store, token, "that is not a billing API key (bk_…)", ct);
            if (found is { Role: KeyRole.Producer }) error = $"the key {found.Id} is a producer's: it posts usage and reads nothing; sign in with an account or operator key";
            if (error is not null) return SignInPage(context, antiforgery, error, StatusCodes.Status401Unauthorized);
            context.Response.Cookies.Append(CookieName, token, CookieOptions(context));
            return Results.Redirect(Root, permanent: false, preserveMethod: false);
        }).AllowAnonymous().ExcludeFromDescription();
        app.MapPost(SignOutPath, async (HttpContext context, IAntiforgery antiforgery) =>
        {
            if (await Forged(context, antiforgery) is { } refused) return refused;
            context.Response.Cookies.Delete(CookieName, CookieOptions(context));
            return Results.Redirect(SignInPath);
        }).AllowAnonymous().ExcludeFromDescription();
    }

    /// <summary>
    /// The refusal of a POST that is not a form of this console's own (no antiforgery token, or another
    /// visitor's): 400, nothing changed. Checked here rather than by form binding so the answer is a page.
    /// </summary>
    static async Task<IResult?> Forged(HttpContext context, IAntiforgery antiforgery) =>
        context.Request.HasFormContentType && await antiforgery.IsRequestValidAsync(context) ? null
            : Html.Page("Refused · billing console",
                $"""<h1>Refused</h1><p class="error" role="alert" data-error>This form did not come from the console's own page (its antiforgery token is missing or stale). <a href="{SignInPath}">Sign in again</a>.</p>""",
                StatusCodes.Status400BadRequest);

    /// <summary>A session cookie (gone when the browser closes); the key's own revocation ends it sooner.</summary>
    static CookieOptions CookieOptions(HttpContext context) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = Root,
        IsEssential = true,
    };

    static IResult SignInPage(HttpContext context, IAntiforgery antiforgery, string? error, int status)
    {
        var csrf = antiforgery.GetAndStoreTokens(context);
        var message = error is null ? "" : $"""<p class="error" role="alert" data-error>{Html.E(error)}</p>""";
        var body = $"""
            <h1>Billing console</h1>
            <form method="post" action="{SignInPath}" class="sign-in">
              <input type="hidden" name="{Html.E(csrf.FormFieldName)}" value="{Html.E(csrf.RequestToken ?? "")}">
              <label for="key">API key (account or operator)</label>
              <input id="key" name="key" type="password" autocomplete="off" placeholder="bk_…" required>
              <button type="submit">Sign in</button>
            </form>
            {message}
            <p class="hint">Create one with <code>billing keys create --role operator</code> or <code>--role account --account ID</code>.</p>
            """;
        return Html.Page("Sign in · billing console", body, status);
    }
}
