using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Billing.Host.Access;
using Billing.Metering;
using Billing.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using NodaTime;

namespace Billing.Tests.Access;

/// <summary>
/// A tiny OpenID Connect issuer on loopback: its metadata and a JWKS with one RSA key it generated,
/// and the tokens it signs. Tests sign with <see cref="Stranger"/> to forge one.
/// </summary>
public sealed class LocalIssuer : IAsyncDisposable
{
    public const string KeyId = "test-key-1";

    readonly WebApplication _app;
    public string Authority { get; }
    public RsaSecurityKey Key { get; } = new(RSA.Create(2048)) { KeyId = KeyId };

    /// <summary>Another RSA key under the same key id: its signatures must not verify.</summary>
    public RsaSecurityKey Stranger { get; } = new(RSA.Create(2048)) { KeyId = KeyId };

    /// <summary>Another RSA key under a key id the JWKS does not list.</summary>
    public RsaSecurityKey Unlisted { get; } = new(RSA.Create(2048)) { KeyId = "unlisted-key" };

    LocalIssuer(WebApplication app, string authority) => (_app, Authority) = (app, authority);

    public static async Task<LocalIssuer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        LocalIssuer? issuer = null;
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = issuer!.Authority,
            ["jwks_uri"] = $"{issuer.Authority}/jwks",
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            ["response_types_supported"] = new[] { "code" },
            ["subject_types_supported"] = new[] { "public" },
        }));
        app.MapGet("/jwks", () =>
        {
            var p = issuer!.Key.Rsa.ExportParameters(false);
            return Results.Json(new { keys = new[] { new { kty = "RSA", use = "sig", alg = "RS256", kid = KeyId, n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) } } });
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        issuer = new LocalIssuer(app, address.TrimEnd('/'));
        return issuer;
    }

    /// <summary>A token with the claims given (null values left out), valid now for ten minutes unless told otherwise.</summary>
    public string Token(string? sub = "alice", string? role = "operator", string? account = null, string audience = "billing",
        DateTime? expires = null, SecurityKey? signWith = null, string? issuer = null, bool unsigned = false)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object>();
        if (sub is not null) claims["sub"] = sub;
        if (role is not null) claims["billing_role"] = role;
        if (account is not null) claims["billing_account"] = account;
        var until = expires ?? now.AddMinutes(10);
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Authority,
            Audience = audience,
            IssuedAt = until.AddMinutes(-20),
            NotBefore = until.AddMinutes(-20),
            Expires = until,
            Claims = claims,
            SigningCredentials = unsigned ? null : new SigningCredentials(signWith ?? Key, SecurityAlgorithms.RsaSha256),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One issuer and one billing host that trusts it, with October's usage of accounts A and B imported.</summary>
public sealed class JwtFixture : IAsyncLifetime
{
    public LocalIssuer Issuer { get; private set; } = null!;
    public BillingTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Issuer = await LocalIssuer.StartAsync();
        Host = await BillingTestHost.StartAsync(configure: s => s with { JwtAuthority = Issuer.Authority, RetryWindow = Duration.Zero });
        var imported = await Host.ImportAsync(OctoberScenario.Lines);
        Assert.Equal(0L, imported.Rejected);
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Issuer.DisposeAsync();
    }
}

/// <summary>JWTs from an OpenID Connect issuer beside API keys (issue 13's optional item, docs/jwt.md), over real HTTP.</summary>
public class JwtTests(JwtFixture fixture) : IClassFixture<JwtFixture>
{
    const string A = OctoberScenario.A;
    const string B = OctoberScenario.B;
    BillingTestHost Host => fixture.Host;
    LocalIssuer Issuer => fixture.Issuer;

    static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    static string? Error(string body) => (string?)JsonNode.Parse(body)!["error"];

    [Fact]
    public async Task An_operator_jwt_lists_dead_letters_as_an_operator_key_does()
    {
        using var client = Host.ClientWith(Issuer.Token(sub: "ops-alice", role: "operator"));
        var (status, body) = await GetAsync(client, "/api/dead-letters");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((HttpStatusCode.OK, body), await GetAsync(Host.Http, "/api/dead-letters"));
        Assert.Equal(JsonValueKind.Array, JsonNode.Parse(body)!.GetValueKind());
    }

    [Fact]
    public async Task A_producer_jwt_posts_usage_and_its_events_and_dead_letters_name_the_jwt_actor()
    {
        const string account = "565656565656";
        using var client = Host.ClientWith(Issuer.Token(sub: "collector|east:1", role: "producer"));
        var body = $"[{Records.Opened("j-1", "2026-10-01T00:00:00Z", account)},{Records.Traffic("j-2", "2026-10-05T10:00:00Z", "vpce-56565656565656565", "use1-az1", null, 1L << 30)}]";
        using var posted = await client.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);

        Assert.Equal(["jwt:collector|east:1"], await Host.EventUserNamesAsync($"%{account}%"));
        var letter = JsonNode.Parse(await Host.Http.GetStringAsync("/api/dead-letters"))!.AsArray().Single(l => (string)l!["recordId"]! == "j-2")!;
        Assert.Equal("jwt:collector|east:1", (string)letter["sentBy"]!);
        Assert.Null(letter["key"]);
    }

    [Fact]
    public async Task An_account_jwt_reads_its_own_usage_and_gets_404_for_another_accounts()
    {
        await Host.Store.WaitForProjectionsAsync(TimeSpan.FromMinutes(2));
        using var client = Host.ClientWith(Issuer.Token(sub: "portal-a", role: "account", account: A));
        var (status, body) = await GetAsync(client, $"/api/usage/{A}/2026-10");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(A, (string)JsonNode.Parse(body)!["accountId"]!);
        Assert.Equal((HttpStatusCode.OK, body), await GetAsync(Host.Http, $"/api/usage/{A}/2026-10"));

        var (otherStatus, other) = await GetAsync(client, $"/api/usage/{B}/2026-10");
        Assert.Equal((HttpStatusCode.NotFound, $"no such resource: GET /api/usage/{B}/2026-10"), (otherStatus, Error(other)));
        var (lettersStatus, letters) = await GetAsync(client, "/api/dead-letters");
        Assert.Equal((HttpStatusCode.NotFound, "no such resource: GET /api/dead-letters"), (lettersStatus, Error(letters)));
    }

    public static TheoryData<string, string> Unauthenticated => new()
    {
        { "expired", "the token expired at " },
        { "wrong-audience", "the token is not for this service: its audience is not 'billing'" },
        { "stranger-key", "the token's signature does not verify with the keys of " },
        { "unlisted-key", "the token's signature does not verify with the keys of " },
        { "unsigned", "the token's signature does not verify with the keys of " },
        { "wrong-issuer", "the token was not issued by " },
        { "no-sub", "the token has no usable 'sub' claim (1-256 printable characters): the service records who did what" },
        { "not-a-jwt", "the bearer token is neither a billing API key (bk_…) nor a JWT" },
    };

    [Theory]
    [MemberData(nameof(Unauthenticated))]
    public async Task A_token_that_does_not_validate_is_401_with_its_reason(string kind, string reason)
    {
        var token = kind switch
        {
            "expired" => Issuer.Token(expires: DateTime.UtcNow.AddMinutes(-10)),
            "wrong-audience" => Issuer.Token(audience: "another-service"),
            "stranger-key" => Issuer.Token(signWith: Issuer.Stranger),
            "unlisted-key" => Issuer.Token(signWith: Issuer.Unlisted),
            "unsigned" => Issuer.Token(unsigned: true),
            "wrong-issuer" => Issuer.Token(issuer: "https://issuer.example.com"),
            "no-sub" => Issuer.Token(sub: null),
            _ => "not-a-jwt",
        };
        using var client = Host.ClientWith(token);
        using var response = await client.GetAsync("/api/dead-letters");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.StartsWith(reason, Error(await response.Content.ReadAsStringAsync()));
        Assert.Equal("Bearer realm=\"billing\", error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task An_expired_tokens_reason_names_when_it_expired()
    {
        var expired = new DateTime(DateTime.UtcNow.Year, DateTime.UtcNow.Month, DateTime.UtcNow.Day, 0, 0, 0, DateTimeKind.Utc).AddDays(-1);
        using var client = Host.ClientWith(Issuer.Token(expires: expired));
        var (status, body) = await GetAsync(client, "/api/dead-letters");
        Assert.Equal((HttpStatusCode.Unauthorized, $"the token expired at {expired:yyyy-MM-dd}T00:00:00Z"), (status, Error(body)));
    }

    public static TheoryData<string?, string?, string> Refused => new()
    {
        { "admin", null, "the token's 'billing_role' is 'admin', not one of producer, operator, account" },
        { "Operator", null, "the token's 'billing_role' is 'Operator', not one of producer, operator, account" },
        { null, null, "the token has no 'billing_role' claim: it names the role, one of producer, operator, account" },
        { "account", null, "an account token needs 'billing_account' with the account's id (12 digits)" },
        { "account", "12345", "an account token needs 'billing_account' with the account's id (12 digits), not '12345'" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task A_valid_token_without_a_known_role_and_account_is_403_with_the_reason(string? role, string? account, string reason)
    {
        using var client = Host.ClientWith(Issuer.Token(sub: "mallory", role: role, account: account));
        foreach (var path in new[] { "/api/dead-letters", $"/api/usage/{A}/2026-10" })
        {
            var (status, body) = await GetAsync(client, path);
            Assert.Equal((HttpStatusCode.Forbidden, reason), (status, Error(body)));
        }
        using var posted = await client.PostAsync("/api/usage/events", new StringContent("[]", Encoding.UTF8, "application/json"));
        Assert.Equal((HttpStatusCode.Forbidden, reason), (posted.StatusCode, Error(await posted.Content.ReadAsStringAsync())));
    }

    [Fact]
    public async Task A_producer_jwt_may_not_operate_and_is_told_so()
    {
        using var client = Host.ClientWith(Issuer.Token(sub: "collector-west", role: "producer"));
        var (status, body) = await GetAsync(client, "/api/dead-letters");
        Assert.Equal((HttpStatusCode.Forbidden, "the token of jwt:collector-west (producer) may not GET /api/dead-letters"), (status, Error(body)));
    }

    [Fact]
    public async Task Api_keys_keep_working_beside_jwts()
    {
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(Host.Http, "/api/dead-letters")).Status);
        var (_, producerToken) = await Host.CreateKeyAsync("producer", name: "beside-jwt");
        using var producer = Host.ClientWith(producerToken);
        using var posted = await producer.PostAsync("/api/usage/events", new StringContent("[]", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);

        using var unknown = Host.ClientWith("bk_0123456789ab.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        var (unknownStatus, unknownBody) = await GetAsync(unknown, "/api/dead-letters");
        Assert.Equal((HttpStatusCode.Unauthorized, "unknown API key"), (unknownStatus, Error(unknownBody)));
        using var none = Host.ClientWith(null);
        var (noneStatus, noneBody) = await GetAsync(none, "/api/dead-letters");
        Assert.Equal((HttpStatusCode.Unauthorized, "this route needs an API key: send 'Authorization: Bearer <key>'"), (noneStatus, Error(noneBody)));
    }

    [Fact]
    public async Task Without_an_authority_a_jwt_is_not_a_billing_api_key()
    {
        await using var host = await BillingTestHost.StartAsync();
        using var client = host.ClientWith(Issuer.Token());
        var (status, body) = await GetAsync(client, "/api/dead-letters");
        Assert.Equal((HttpStatusCode.Unauthorized, "the bearer token is not a billing API key (bk_…)"), (status, Error(body)));
    }

    [Fact]
    public async Task An_issuer_that_does_not_answer_is_503_not_500()
    {
        var gone = await LocalIssuer.StartAsync();
        var token = gone.Token();
        var authority = gone.Authority;
        await gone.DisposeAsync();
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { JwtAuthority = authority });
        using var client = host.ClientWith(token);
        using var response = await client.GetAsync("/api/dead-letters");
        var (status, body) = (response.StatusCode, await response.Content.ReadAsStringAsync());
        Assert.Equal("5", response.Headers.RetryAfter?.ToString());
        Assert.Equal((HttpStatusCode.ServiceUnavailable, $"the token's issuer {authority} does not answer, so its keys are unknown; retry later"), (status, Error(body)));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(host.Http, "/api/dead-letters")).Status);
    }

    [Theory]
    [InlineData("https://login.example.com/realms/billing", true)]
    [InlineData("http://127.0.0.1:8080", true)]
    [InlineData("http://localhost:8080", true)]
    [InlineData("http://login.example.com", false)]
    [InlineData("ftp://login.example.com", false)]
    [InlineData("login.example.com", false)]
    public void An_authority_is_https_or_http_on_loopback(string authority, bool accepted)
    {
        if (accepted) Assert.Equal(new Uri(authority), JwtAuthentication.AuthorityOf(authority));
        else Assert.StartsWith($"BILLING_JWT_AUTHORITY '{authority}' ", Assert.Throws<InvalidOperationException>(() => JwtAuthentication.AuthorityOf(authority)).Message);
    }
}
