using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.RateLimiting;

namespace Billing.Host.Access;

/// <summary>
/// Who may call which route, as ASP.NET Core policies: a route names one of <see cref="Policies"/>;
/// a route that names none is the operator's (the fallback policy), so a new route is closed until
/// someone opens it. An account key that may not call a route gets the 404 of a route that does not
/// exist, so it learns nothing; any other key gets 403.
/// </summary>
public static class Policies
{
    /// <summary>Posting usage: producers and operators.</summary>
    public const string PostUsage = "post-usage";

    /// <summary>Reading usage, invoices and PDFs: operators, and account keys for their own account.</summary>
    public const string ReadAccounts = "read-accounts";

    /// <summary>Everything else: rejected records, replays, metrics.</summary>
    public const string Operate = "operate";

    /// <summary>The per-key rate limit on posting usage.</summary>
    public const string PostRate = "post-rate";

    public static void AddBillingAccess(this IServiceCollection services, BillingSettings settings)
    {
        // One set of policies for keys and JWTs: they name the selector scheme, which hands each request to the scheme its token belongs to.
        services.AddBillingAuthentication(settings);
        var operate = new AuthorizationPolicyBuilder(JwtAuthentication.SelectorScheme).RequireRole("operator").Build();
        services.AddAuthorizationBuilder()
            .AddPolicy(PostUsage, p => p.AddAuthenticationSchemes(JwtAuthentication.SelectorScheme).RequireRole("producer", "operator"))
            .AddPolicy(ReadAccounts, p => p.AddAuthenticationSchemes(JwtAuthentication.SelectorScheme).RequireRole("account", "operator"))
            .AddPolicy(Operate, operate)
            .SetFallbackPolicy(operate);
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, AccountKeysSeeNotFound>();
        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(PostRate, context => RateLimitPartition.GetTokenBucketLimiter(
                // A key is limited by its id, a JWT by its subject (the actor): each caller has a bucket of its own.
                context.User.FindFirst(ApiKeyAuthentication.KeyIdClaim)?.Value ?? context.User.Identity?.Name ?? "",
                _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = settings.PostBurst,
                    // Refilled at most every 100 ms (a timer per key any faster would cost more than it limits); a rate below one a second waits longer.
                    TokensPerPeriod = Math.Max(1, (int)Math.Round(settings.PostsPerSecond * Refill(settings).TotalSeconds)),
                    ReplenishmentPeriod = Refill(settings),
                    QueueLimit = 0,
                }));
            limiter.OnRejected = async (rejected, ct) =>
            {
                var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                var response = rejected.HttpContext.Response;
                response.StatusCode = StatusCodes.Status429TooManyRequests;
                response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await response.WriteAsJsonAsync(new { error = $"this key posts at most {settings.PostsPerSecond} requests a second (bursts of {settings.PostBurst}); retry in {seconds} s" }, ct);
            };
        });
    }

    static TimeSpan Refill(BillingSettings settings) => TimeSpan.FromSeconds(Math.Max(0.1, 1 / settings.PostsPerSecond));

    /// <summary>Authentication, the policies, the body limit and the rate limit, in that order (after <see cref="StoreUnavailable"/>, which turns a lost database into 503).</summary>
    public static void UseBillingAccess(this WebApplication app, BillingSettings settings)
    {
        app.UseAuthentication();
        app.UseAuthorization();
        // A declared body over the limit is refused before a byte of it is read; a chunked one fails while read (PostUsageEvents).
        app.Use(async (context, next) =>
        {
            if (context.Request.ContentLength > settings.MaxBodyBytes)
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                await context.Response.WriteAsJsonAsync(new { error = TooLarge(settings) });
                return;
            }
            await next(context);
        });
        app.UseRateLimiter();
        app.MapFallback("/api/{**path}", (HttpContext context) => NotFound(context)).AllowAnonymous();
    }

    public static string TooLarge(BillingSettings settings) => $"the body is larger than {settings.MaxBodyBytes:N0} bytes (BILLING_MAX_BODY_BYTES); send fewer records per request";

    /// <summary>The answer for a route that does not exist, and for one an account key may not call.</summary>
    public static IResult NotFound(HttpContext context) =>
        Results.NotFound(new { error = $"no such resource: {context.Request.Method} {context.Request.Path}" });

    sealed class AccountKeysSeeNotFound : IAuthorizationMiddlewareResultHandler
    {
        readonly AuthorizationMiddlewareResultHandler _default = new();

        public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult result)
        {
            // The role claim itself, not Caller's reading of it: a JWT refused for its claims has no role and gets its 403 with the reason.
            if (result.Forbidden && context.User.IsInRole("account"))
            {
                await NotFound(context).ExecuteAsync(context);
                return;
            }
            await _default.HandleAsync(next, context, policy, result);
        }
    }
}
