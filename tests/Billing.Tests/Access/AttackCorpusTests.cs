using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;

namespace Billing.Tests.Access;

/// <summary>
/// One real service with two accounts' usage and invoices, and a key of every kind: the data and keys
/// every attack is tried against. Bodies are limited to 64 KiB and each key to a burst of 3 posts, so
/// the limits can be crossed by a test.
/// </summary>
public sealed class AccessFixture : IAsyncLifetime
{
    public const string A = OctoberScenario.A;
    public const string B = OctoberScenario.B;
    public const long MaxBody = 64 * 1024;

    public BillingTestHost Host { get; private set; } = null!;
    public string Producer { get; private set; } = "";
    public string AccountA { get; private set; } = "";
    public string AccountB { get; private set; } = "";
    public string Revoked { get; private set; } = "";
    public string RevokedId { get; private set; } = "";
    public string InvoiceOfA { get; private set; } = "";
    public string InvoiceOfB { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Host = await BillingTestHost.StartAsync(configure: s => s with { MaxBodyBytes = MaxBody, PostsPerSecond = 0.01, PostBurst = 3 });
        await Host.ImportAsync([.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", B, "Sample KK", "JP")]);
        var invoices = await CloseCommand.CloseAsync(Host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        InvoiceOfA = invoices.Single(i => i.AccountId == A).Number;
        InvoiceOfB = invoices.Single(i => i.AccountId == B).Number;
        Producer = (await Host.CreateKeyAsync("producer", name: "producer-east")).Token;
        AccountA = (await Host.CreateKeyAsync("account", A, "portal-a")).Token;
        AccountB = (await Host.CreateKeyAsync("account", B, "portal-b")).Token;
        var (revoked, token) = await Host.CreateKeyAsync("operator", name: "former-operator");
        await Keys.RevokeAsync(Host.Services, revoked.Id, Billing.Host.Access.Actor.Cli("test"), CancellationToken.None);
        (Revoked, RevokedId) = (token, revoked.Id);
    }

    public Task DisposeAsync() => Host.DisposeAsync().AsTask();

    /// <summary>What a request could change: events, dead letters, invoices, keys.</summary>
    public async Task<(long Events, long DeadLetters, long Invoices, long Keys)> StateAsync() => (
        await Host.ScalarAsync("select count(*) from billing.mt_events"),
        await Host.ScalarAsync("select count(*) from billing.mt_doc_deadletter"),
        await Host.ScalarAsync("select count(*) from billing.mt_doc_issuedinvoice"),
        await Host.ScalarAsync("select count(*) from billing.mt_doc_apikey"));
}

/// <summary>
/// The attack corpus (issue 13): each case sends one request as an attacker would and asserts its
/// exact status, its reason, that it shows nothing of another account and that it changed nothing.
/// </summary>
public class AttackCorpusTests(AccessFixture fixture) : IClassFixture<AccessFixture>
{
    static readonly string Record = Records.Traffic("attack-1", "2026-10-20T10:00:00Z", OctoberScenario.E1, "use1-az1", null, 1000);

    /// <summary>A token shaped like a key whose id exists (the producer's) but whose secret is another.</summary>
    string WrongSecret => fixture.Producer[..16] + new string('A', fixture.Producer.Length - 16);

    string? Token(string who) => who switch
    {
        "none" => null,
        "producer" => fixture.Producer,
        "accountA" => fixture.AccountA,
        "accountB" => fixture.AccountB,
        "revoked" => fixture.Revoked,
        "wrong-secret" => WrongSecret,
        "unknown-id" => "bk_0123456789ab." + new string('x', 43),
        "not-hex-id" => "bk_zzzzzzzzzzzz." + new string('x', 43),
        "garbage" => "hunter2",
        _ => throw new ArgumentException(who),
    };

    string Path(string template) => template.Replace("{A}", AccessFixture.A).Replace("{B}", AccessFixture.B)
        .Replace("{INV_A}", fixture.InvoiceOfA).Replace("{INV_B}", fixture.InvoiceOfB);

    public static TheoryData<string, string, string, int, string> Cases => new()
    {
        // who, method, path, status, a fragment of the {"error"} answer ("" where the server answers before any route, with no body)
        { "none", "GET", "/api/invoices?period=2026-10", 401, "needs an API key" },
        { "none", "GET", "/api/invoices/{INV_A}", 401, "needs an API key" },
        { "none", "GET", "/api/invoices/{INV_A}/pdf", 401, "needs an API key" },
        { "none", "GET", "/api/usage/{A}/2026-10", 401, "needs an API key" },
        { "none", "GET", "/api/dead-letters", 401, "needs an API key" },
        { "none", "POST", "/api/usage/events", 401, "needs an API key" },
        { "none", "POST", "/api/dead-letters/replay?all=true", 401, "needs an API key" },
        { "garbage", "GET", "/api/invoices?period=2026-10", 401, "not a billing API key" },
        { "not-hex-id", "GET", "/api/invoices?period=2026-10", 401, "not a billing API key" },
        { "unknown-id", "GET", "/api/invoices?period=2026-10", 401, "unknown API key" },
        { "wrong-secret", "GET", "/api/invoices?period=2026-10", 401, "unknown API key" },
        { "wrong-secret", "POST", "/api/usage/events", 401, "unknown API key" },
        { "revoked", "GET", "/api/dead-letters", 401, "was revoked" },
        { "revoked", "POST", "/api/usage/events", 401, "was revoked" },
        { "producer", "GET", "/api/invoices?period=2026-10", 403, "(producer) may not GET /api/invoices" },
        { "producer", "GET", "/api/invoices/{INV_A}", 403, "(producer) may not GET" },
        { "producer", "GET", "/api/invoices/{INV_A}/pdf", 403, "(producer) may not GET" },
        { "producer", "GET", "/api/invoices/{INV_A}/verify", 403, "(producer) may not GET" },
        { "producer", "GET", "/api/usage/{A}/2026-10", 403, "(producer) may not GET" },
        { "producer", "GET", "/api/dead-letters", 403, "(producer) may not GET /api/dead-letters" },
        { "producer", "POST", "/api/dead-letters/replay?all=true", 403, "(producer) may not POST" },
        { "accountA", "POST", "/api/usage/events", 404, "no such resource: POST /api/usage/events" },
        { "accountA", "GET", "/api/dead-letters", 404, "no such resource: GET /api/dead-letters" },
        { "accountA", "POST", "/api/dead-letters/replay?all=true", 404, "no such resource: POST /api/dead-letters/replay" },
        { "accountA", "GET", "/api/usage/{B}/2026-10", 404, "no such resource: GET /api/usage/{B}/2026-10" },
        { "accountA", "GET", "/api/invoices/{INV_B}", 404, "no invoice numbered '{INV_B}'" },
        { "accountA", "GET", "/api/invoices/{INV_B}/pdf", 404, "no invoice numbered '{INV_B}'" },
        { "accountA", "GET", "/api/invoices/{INV_A}/verify", 404, "no such resource: GET /api/invoices/{INV_A}/verify" },
        { "accountB", "GET", "/api/invoices/{INV_A}", 404, "no invoice numbered '{INV_A}'" },
        { "accountB", "GET", "/api/usage/{A}/2026-10", 404, "no such resource: GET /api/usage/{A}/2026-10" },
        { "accountA", "GET", "/api/invoices/INV-2026-000999", 404, "no invoice numbered 'INV-2026-000999'" },
        { "accountA", "GET", "/api/invoices/..%2F..%2Fdead-letters", 400, "is not an invoice number" },
        { "accountA", "GET", "/api/invoices/INV-2026-000001%2F..%2F..", 400, "is not an invoice number" },
        { "accountA", "GET", "/api/invoices/%2e%2e%5c%2e%2e%5cdead-letters", 400, "is not an invoice number" },
        // An encoded NUL never reaches a route: Kestrel refuses the request line itself (no body).
        { "accountA", "GET", "/api/invoices/INV-2026-000001%00/pdf", 400, "" },
        { "accountA", "GET", "/api/invoices/../dead-letters", 404, "no such resource: GET /api/dead-letters" },
        { "producer", "GET", "/api/invoices/../dead-letters", 403, "(producer) may not GET /api/dead-letters" },
        { "accountA", "GET", "/api/usage/{B}%2F..%2F{A}/2026-10", 400, "is not an account id" },
        { "accountA", "GET", "/api/invoices?period=2026-10'%20or%201=1--", 400, "is not a billing period" },
        { "accountA", "GET", "/api/secrets", 404, "no such resource: GET /api/secrets" },
        { "none", "GET", "/metrics", 401, "needs an API key" },
        { "producer", "GET", "/metrics", 403, "(producer) may not GET /metrics" },
        { "accountA", "GET", "/metrics", 404, "no such resource: GET /metrics" },
        { "none", "GET", "/api/secrets", 404, "no such resource: GET /api/secrets" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task An_attack_gets_its_exact_status_and_changes_and_shows_nothing(string who, string method, string template, int status, string error)
    {
        var before = await fixture.StateAsync();
        using var client = fixture.Host.ClientWith(Token(who));
        // The path goes as written, dot segments and escapes included, as a hand-made request would.
        var uri = new Uri(client.BaseAddress + Path(template).TrimStart('/'), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using var request = new HttpRequestMessage(new HttpMethod(method), uri);
        if (method == "POST" && template.StartsWith("/api/usage/events", StringComparison.Ordinal))
            request.Content = new StringContent($"[{Record}]", Encoding.UTF8, "application/json");
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(status == (int)response.StatusCode, $"{who} {method} {template}: {(int)response.StatusCode} {body}");
        if (error == "") Assert.Equal("", body);
        else Assert.Contains(Path(error), (string)JsonNode.Parse(body)!["error"]!);
        if (status == 401) Assert.StartsWith("Bearer realm=\"billing\"", response.Headers.WwwAuthenticate.ToString());
        // Nothing of the other account: its id only where the attacker named it, never its invoice's figures.
        if (who == "accountA") Assert.DoesNotContain("Sample KK", body);
        Assert.Equal(before, await fixture.StateAsync());
    }

    [Fact]
    public async Task Health_and_the_api_document_answer_without_a_key_and_show_no_customer_data()
    {
        using var anonymous = fixture.Host.ClientWith(null);
        foreach (var path in new[] { "/health/live", "/health/ready", "/openapi/v1.json" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}");
            var body = await response.Content.ReadAsStringAsync();
            foreach (var secret in new[] { AccessFixture.A, AccessFixture.B, fixture.InvoiceOfA, "Sample KK", "Example Corp" })
                Assert.DoesNotContain(secret, body);
        }
        // The operator's scrape works; it carries counts, never an account.
        var metrics = await fixture.Host.Http.GetStringAsync("/metrics");
        Assert.Contains("billing_records_total", metrics);
        Assert.DoesNotContain(AccessFixture.A, metrics);
    }

    [Fact]
    public async Task Two_authorization_headers_are_refused()
    {
        // Two header lines, as only a hand-made request sends them (HttpClient joins them into one).
        var head = $"GET /api/invoices?period=2026-10 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {fixture.AccountA}\r\nAuthorization: Bearer {fixture.AccountB}\r\nConnection: close\r\n\r\n";
        var (status, body) = await RawAsync(head);
        Assert.Equal("HTTP/1.1 401 Unauthorized", status);
        Assert.Contains("""{"error":"send one Authorization header, not several"}""", body);
    }

    [Fact]
    public async Task Two_keys_in_one_header_are_not_a_key()
    {
        using var client = fixture.Host.ClientWith(null);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/invoices?period=2026-10");
        request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {fixture.AccountA}, Bearer {fixture.AccountB}");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("the bearer token is not a billing API key (bk_…)", (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!);
    }

    /// <summary>A request written byte for byte on a socket: the status line and everything after the headers.</summary>
    async Task<(string Status, string Body)> RawAsync(string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(fixture.Host.Http.BaseAddress!.Host, fixture.Host.Http.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var all = await reader.ReadToEndAsync(timeout.Token);
        var status = all[..all.IndexOf("\r\n", StringComparison.Ordinal)];
        return (status, all[(all.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
    }

    [Theory]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer")]
    [InlineData("Token bk_0123456789ab.x")]
    public async Task A_malformed_authorization_header_is_401(string header)
    {
        using var client = fixture.Host.ClientWith(null);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/invoices?period=2026-10");
        request.Headers.TryAddWithoutValidation("Authorization", header);
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("the Authorization header must be 'Bearer <key>'", (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!);
    }

    [Fact]
    public async Task An_account_key_enumerating_invoice_numbers_finds_only_its_own()
    {
        using var client = fixture.Host.ClientWith(fixture.AccountA);
        var found = new List<string>();
        for (var n = 1; n <= 12; n++)
        {
            var number = $"INV-2026-{n:000000}";
            using var json = await client.GetAsync($"/api/invoices/{number}");
            using var pdf = await client.GetAsync($"/api/invoices/{number}/pdf");
            if (json.StatusCode == HttpStatusCode.OK) found.Add(number);
            else
            {
                // Another account's number and one never issued are answered alike.
                Assert.Equal(HttpStatusCode.NotFound, json.StatusCode);
                Assert.Equal($$"""{"error":"no invoice numbered '{{number}}'"}""", await json.Content.ReadAsStringAsync());
                Assert.Equal(HttpStatusCode.NotFound, pdf.StatusCode);
                Assert.Equal($$"""{"error":"no invoice numbered '{{number}}'"}""", await pdf.Content.ReadAsStringAsync());
            }
        }
        Assert.Equal([fixture.InvoiceOfA], found);
    }

    [Fact]
    public async Task An_account_key_reads_its_own_usage_invoices_and_pdf_only()
    {
        using var client = fixture.Host.ClientWith(fixture.AccountA);
        var list = JsonNode.Parse(await client.GetStringAsync("/api/invoices?period=2026-10"))!.AsArray();
        Assert.Equal([(fixture.InvoiceOfA, AccessFixture.A)], list.Select(i => ((string)i!["number"]!, (string)i["accountId"]!)));
        var usage = JsonNode.Parse(await client.GetStringAsync($"/api/usage/{AccessFixture.A}/2026-10"))!;
        Assert.Equal(AccessFixture.A, (string)usage["accountId"]!);
        using var pdf = await client.GetAsync($"/api/invoices/{fixture.InvoiceOfA}/pdf");
        Assert.Equal(HttpStatusCode.OK, pdf.StatusCode);
        Assert.Equal("application/pdf", pdf.Content.Headers.ContentType!.MediaType);

        // The operator sees both accounts' invoices.
        var all = JsonNode.Parse(await fixture.Host.Http.GetStringAsync("/api/invoices?period=2026-10"))!.AsArray();
        Assert.Equal(new[] { fixture.InvoiceOfA, fixture.InvoiceOfB }.Order(StringComparer.Ordinal), all.Select(i => (string)i!["number"]!));
    }

    [Fact]
    public async Task A_key_revoked_is_refused_from_its_next_request_on()
    {
        var (key, token) = await fixture.Host.CreateKeyAsync("operator", name: "leaving-soon");
        using var client = fixture.Host.ClientWith(token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/dead-letters")).StatusCode);
        await Keys.RevokeAsync(fixture.Host.Services, key.Id, Billing.Host.Access.Actor.Cli("test"), CancellationToken.None);
        using var refused = await client.GetAsync("/api/dead-letters");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal($$"""{"error":"the API key {{key.Id}} was revoked"}""", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_body_declared_over_the_limit_is_413_before_it_is_read()
    {
        var before = await fixture.StateAsync();
        // Announce a body over the limit and send none of it: the answer cannot have waited for the bytes.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(fixture.Host.Http.BaseAddress!.Host, fixture.Host.Http.BaseAddress.Port);
        var stream = tcp.GetStream();
        var head = $"POST /api/usage/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {fixture.Producer}\r\nContent-Type: application/json\r\nContent-Length: {AccessFixture.MaxBody + 1}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var statusLine = await reader.ReadLineAsync(timeout.Token);
        Assert.Equal("HTTP/1.1 413 Payload Too Large", statusLine);
        Assert.Equal(before, await fixture.StateAsync());
    }

    [Fact]
    public async Task A_chunked_body_over_the_limit_is_413()
    {
        var before = await fixture.StateAsync();
        using var client = fixture.Host.ClientWith(fixture.Producer);
        var records = string.Join(',', Enumerable.Range(0, 1000).Select(i => Records.Traffic($"big-{i}", "2026-10-20T10:00:00Z", OctoberScenario.E1, "use1-az1", null, 1000)));
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes($"[{records}]")));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/usage/events") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("larger than 65,536 bytes", await response.Content.ReadAsStringAsync());
        Assert.Equal(before, await fixture.StateAsync());
    }

    [Fact]
    public async Task Oversized_headers_are_431()
    {
        using var client = fixture.Host.ClientWith(fixture.AccountA);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/invoices?period=2026-10");
        request.Headers.TryAddWithoutValidation("X-Padding", new string('p', 40 * 1024));
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task A_burst_past_the_rate_limit_is_429_with_retry_after_and_other_keys_post_on()
    {
        var (_, burst) = await fixture.Host.CreateKeyAsync("producer", name: "bursty");
        using var client = fixture.Host.ClientWith(burst);
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var posted = await client.PostAsync("/api/usage/events", new StringContent("[]", Encoding.UTF8, "application/json"));
            statuses.Add(posted.StatusCode);
            if (posted.StatusCode == HttpStatusCode.TooManyRequests)
            {
                // One token every 100 s (0.01 a second): the answer says when the next one comes.
                Assert.InRange(int.Parse(posted.Headers.GetValues("Retry-After").Single()), 1, 100);
                Assert.Contains("at most 0.01 requests a second (bursts of 3)", await posted.Content.ReadAsStringAsync());
            }
        }
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);

        var (_, other) = await fixture.Host.CreateKeyAsync("producer", name: "steady");
        using var steady = fixture.Host.ClientWith(other);
        using var accepted = await steady.PostAsync("/api/usage/events", new StringContent("[]", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }
}

/// <summary>A new database has no key: the service refuses everything and says how to make the first one.</summary>
public class FirstKeyTests
{
    [Fact]
    public async Task Until_a_key_exists_every_route_is_refused_with_the_command_that_creates_one()
    {
        await using var host = await BillingTestHost.StartAsync(operatorKey: false);
        foreach (var path in new[] { "/api/dead-letters", "/api/invoices?period=2026-10", $"/api/usage/{OctoberScenario.A}/2026-10" })
        {
            using var response = await host.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal(Billing.Host.Access.ApiKeyAuthentication.NoKeyYet, (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!);
        }
        Assert.Contains("billing keys create --role operator", Billing.Host.Access.ApiKeyAuthentication.NoKeyYet);

        var (_, token) = await host.CreateKeyAsync("operator", name: "first");
        using var client = host.ClientWith(token);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/dead-letters")).StatusCode);
        using var anonymous = await host.Http.GetAsync("/api/dead-letters");
        Assert.Equal("this route needs an API key: send 'Authorization: Bearer <key>'", (string)JsonNode.Parse(await anonymous.Content.ReadAsStringAsync())!["error"]!);
    }
}
