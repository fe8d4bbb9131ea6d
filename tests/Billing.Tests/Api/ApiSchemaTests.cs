using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Api;

/// <summary>
/// Real answers of every /api route, from records posted over HTTP and invoices issued by real
/// closes, checked against the schemas the OpenAPI document gives for them.
/// </summary>
public class ApiSchemaTests
{
    const long GiB = 1L << 30;
    static readonly BillingPeriod October = new(2026, 10);
    static readonly BillingPeriod November = new(2026, 11);

    /// <summary>
    /// Answers that no test here can bring about: 401/403/429 belong to the API-key work, 503 needs
    /// PostgreSQL gone (PostingUsage/StoreUnavailableTests), and a PDF is "still rendering" only for a
    /// moment after its invoice is issued.
    /// </summary>
    static bool CannotBeBroughtAbout(string answer) => answer.EndsWith(" 401") || answer.EndsWith(" 403") || answer.EndsWith(" 429") || answer.EndsWith(" 503");

    sealed class Answers(BillingTestHost host, SchemaChecker checker)
    {
        public readonly SortedSet<string> Checked = new(StringComparer.Ordinal);

        public Task<JsonNode?> GetAsync(string url, string template, HttpStatusCode status, HttpClient? client = null) =>
            CheckAsync((client ?? host.Http).GetAsync(url), "GET", template, status);

        public Task<JsonNode?> ReplayAsync(string query, HttpStatusCode status) =>
            CheckAsync(host.Http.PostAsync("/api/dead-letters/replay" + query, null), "POST", "/api/dead-letters/replay", status);

        public Task<JsonNode?> PostAsync(string body, HttpStatusCode status) =>
            CheckAsync(host.Http.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json")), "POST", "/api/usage/events", status);

        public Task<JsonNode?> SendAsync(HttpMethod method, string url, string template, HttpStatusCode status, string? body = null, HttpClient? client = null) =>
            CheckAsync((client ?? host.Http).SendAsync(new HttpRequestMessage(method, url) { Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json") }),
                method.Method, template, status);

        public Task<JsonNode?> RerateAsync(string query, string body, HttpStatusCode status) =>
            CheckAsync(host.Http.PostAsync("/api/rerate" + query, new StringContent(body, Encoding.UTF8, "application/json")), "POST", "/api/rerate", status);

        /// <summary>The answer's status as expected, and its body as the document's schema for that status and media type says.</summary>
        async Task<JsonNode?> CheckAsync(Task<HttpResponseMessage> send, string method, string template, HttpStatusCode status)
        {
            using var response = await send;
            var body = await response.Content.ReadAsByteArrayAsync();
            Assert.True(status == response.StatusCode, $"{method} {template}: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)}");
            Checked.Add($"{method} {template} {(int)status}");
            if (response.Content.Headers.ContentType?.MediaType is not { } mediaType)
            {
                Assert.Empty(body);
                Assert.Null(checker.Responses(method, template, (int)status)["content"]);
                return null;
            }
            var schema = checker.ResponseSchema(method, template, (int)status, mediaType);
            if (mediaType != "application/json")
            {
                Assert.Equal(("string", "binary"), ((string?)checker.Resolved(schema)["type"], (string?)checker.Resolved(schema)["format"]));
                return null;
            }
            var json = JsonNode.Parse(body);
            var errors = checker.Check(schema, json);
            Assert.True(errors.Count == 0, $"{method} {template} {(int)status}:\n{string.Join("\n", errors)}\n{Encoding.UTF8.GetString(body)}");
            return json;
        }
    }

    [Fact]
    public async Task Every_documented_answer_matches_the_real_json()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 2, 0, 0));
        var document = await OpenApiDocumentTests.DocumentAsync(host);
        var answers = new Answers(host, new SchemaChecker(document));

        // October with both accounts, one record sent twice, one of an unknown type and one that is no record at all.
        string[] month = [.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B, "株式会社サンプル", "JP")];
        var posted = (await answers.PostAsync("[" + string.Join(",", [.. month, month[0], """{"type":"who.knows","id":"x-1","at":"2026-10-01T00:00:00Z"}""", "42"]) + "]", HttpStatusCode.OK))!;
        Assert.Equal((18, 1, 2, 0), ((int)posted["accepted"]!, (int)posted["duplicates"]!, (int)posted["rejected"]!, (int)posted["pending"]!));
        Assert.Equal("""{"index":18,"id":"s-1","status":"duplicate"}""", posted["results"]![18]!.ToJsonString());
        Assert.Equal(("x-1", "rejected"), ((string?)posted["results"]![19]!["id"], (string?)posted["results"]![19]!["status"]));
        Assert.Null(posted["results"]![20]!["id"]);

        await host.Store.WaitForProjectionsAsync(TimeSpan.FromMinutes(2));
        var usage = await answers.GetAsync($"/api/usage/{OctoberScenario.A}/2026-10", "/api/usage/{accountId}/{period}", HttpStatusCode.OK);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(OctoberScenario.ExpectedA), usage), usage!.ToJsonString());

        var deadLetters = (await answers.GetAsync("/api/dead-letters", "/api/dead-letters", HttpStatusCode.OK))!.AsArray();
        Assert.Equal(2, deadLetters.Count);
        Assert.All(deadLetters, d => Assert.Null(d!["replayedAt"]));
        Assert.Equal("""{"type":"who.knows","id":"x-1","at":"2026-10-01T00:00:00Z"}""", (string?)deadLetters.Single(d => (string?)d!["recordId"] == "x-1")!["json"]);

        var october = await CloseCommand.CloseAsync(host.Services, October, CancellationToken.None);
        var listed = (await answers.GetAsync("/api/invoices?period=2026-10", "/api/invoices", HttpStatusCode.OK))!.AsArray();
        Assert.Equal(["INV-2026-000001", "INV-2026-000002"], listed.Select(i => (string)i!["number"]!));
        foreach (var invoice in october)
        {
            var one = await answers.GetAsync($"/api/invoices/{invoice.Number}", "/api/invoices/{number}", HttpStatusCode.OK);
            Assert.Equal(invoice.Total.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), (string)one!["total"]!);
            await answers.GetAsync($"/api/invoices/{invoice.Number}/pdf", "/api/invoices/{number}/pdf", HttpStatusCode.OK);
        }

        // Late October usage billed in November: the November invoice carries adjustment lines (negative ones too).
        host.Clock.Set(Instant.FromUtc(2026, 11, 5, 0, 0));
        await answers.PostAsync("[" + string.Join(",",
            Records.Traffic("late-1", "2026-10-01T11:30:00Z", OctoberScenario.E1, "use1-az1", "use1-az2", 4 * GiB),
            Records.Deleted("late-2", "2026-10-31T12:00:00Z", OctoberScenario.E2)) + "]", HttpStatusCode.OK);
        host.Clock.Set(Instant.FromUtc(2026, 12, 2, 0, 0));
        var november = await CloseCommand.CloseAsync(host.Services, November, CancellationToken.None);
        var adjusted = await answers.GetAsync($"/api/invoices/{november.Single(i => i.AccountId == OctoberScenario.A).Number}", "/api/invoices/{number}", HttpStatusCode.OK);
        Assert.Equal(["2026-10 endpoint-hours -12 -0.13", "2026-10 data-processing 4.000000000 0.04", "2026-10 cross-az-out 4.000000000 0.04", "2026-10 cross-az-in 4.000000000 0.04"],
            adjusted!["lines"]!.AsArray().Where(l => (string?)l!["kind"] == "adjustment").Select(l => $"{l!["adjusts"]} {l["of"]} {l["quantity"]} {l["amount"]}"));

        // November's spend, now that it is closed, is its invoice, adjustments and all; December's has not begun to cost anything.
        var invoiceOfA = adjusted;
        var spent = (await answers.GetAsync($"/api/spend/{OctoberScenario.A}/2026-11", "/api/spend/{accountId}/{period}", HttpStatusCode.OK))!;
        Assert.Equal((invoiceOfA["total"]!.ToJsonString(), invoiceOfA["lines"]!.ToJsonString()), (spent["actual"]!["total"]!.ToJsonString(), spent["lines"]!.ToJsonString()));
        Assert.Equal("""{"subtotal":"0.00","tax":"0.00","total":"0.00"}""",
            (await answers.GetAsync($"/api/spend/{OctoberScenario.A}/2026-12", "/api/spend/{accountId}/{period}", HttpStatusCode.OK))!["actual"]!.ToJsonString());
        Assert.Equal("'2026-13' is not a billing period like 2026-10 (YYYY-MM)",
            (string?)(await answers.GetAsync($"/api/spend/{OctoberScenario.A}/2026-13", "/api/spend/{accountId}/{period}", HttpStatusCode.BadRequest))!["error"]);

        // Budgets: set, listed with the alert December's first 48 endpoint-hours raise at once (0.48 is above 1% of 1.00), deleted.
        await answers.PostAsync("[" + Records.Created("dec-1", "2026-12-01T00:00:00Z", "vpce-0d0d0d0d0d0d0d0d0", OctoberScenario.A, "us-east-1", "Interface", "use1-az1") + "]", HttpStatusCode.OK);
        var budget = (await answers.SendAsync(HttpMethod.Post, "/api/budgets", "/api/budgets", HttpStatusCode.Created, $$"""{"accountId":"{{OctoberScenario.A}}","amount":"1.00","thresholds":[1],"name":"tiny"}"""))!;
        await Eventually.UntilAsync(async () => (await answers.GetAsync("/api/budgets", "/api/budgets", HttpStatusCode.OK))!.AsArray().Single()!["alerts"]!.AsArray().Count > 0,
            TimeSpan.FromSeconds(30), "the budget's alert");
        await answers.SendAsync(HttpMethod.Post, "/api/budgets", "/api/budgets", HttpStatusCode.BadRequest, """{"amount":"-1"}""");
        await answers.GetAsync("/api/budgets?accountId=x", "/api/budgets", HttpStatusCode.BadRequest);
        await answers.SendAsync(HttpMethod.Delete, "/api/budgets/x", "/api/budgets/{id}", HttpStatusCode.BadRequest);
        await answers.SendAsync(HttpMethod.Delete, $"/api/budgets/{budget["id"]}", "/api/budgets/{id}", HttpStatusCode.OK);
        await answers.SendAsync(HttpMethod.Delete, $"/api/budgets/{budget["id"]}", "/api/budgets/{id}", HttpStatusCode.NotFound);
        using (var accountB = host.ClientWith((await host.CreateKeyAsync("account", OctoberScenario.B)).Token))
        {
            await answers.GetAsync($"/api/spend/{OctoberScenario.A}/2026-11", "/api/spend/{accountId}/{period}", HttpStatusCode.NotFound, accountB);
            await answers.GetAsync($"/api/budgets?accountId={OctoberScenario.A}", "/api/budgets", HttpStatusCode.NotFound, accountB);
            await answers.SendAsync(HttpMethod.Post, "/api/budgets", "/api/budgets", HttpStatusCode.NotFound, $$"""{"accountId":"{{OctoberScenario.A}}","amount":"1"}""", accountB);
        }

        // Proving A's October invoice: it matches, and November's invoice carried what changed since.
        var verified = (await answers.GetAsync($"/api/invoices/{october.Single(i => i.AccountId == OctoberScenario.A).Number}/verify", "/api/invoices/{number}/verify", HttpStatusCode.OK))!;
        Assert.True((bool)verified["matches"]!);
        Assert.Equal($"[\"{november.Single(i => i.AccountId == OctoberScenario.A).Number}\"]", verified["now"]!["carriedBy"]!.ToJsonString());
        Assert.Equal("no invoice numbered 'INV-2026-000099'",
            (string?)(await answers.GetAsync("/api/invoices/INV-2026-000099/verify", "/api/invoices/{number}/verify", HttpStatusCode.NotFound))!["error"]);
        await answers.GetAsync("/api/invoices/INV-26-1/verify", "/api/invoices/{number}/verify", HttpStatusCode.BadRequest);
        // October re-rated under doubled prices, next to its issued invoices (the late records are in the re-rated usage:
        // 12 fewer GWLB hours, 4 GB more); then a book that cannot be read, and no period.
        var rerated = (await answers.RerateAsync("?period=2026-10", Rerating.RerateTests.Doubled, HttpStatusCode.OK))!;
        Assert.Equal(("8.77", "17.50", "8.73"), ((string)rerated["totals"]!["current"]!["total"]!, (string)rerated["totals"]!["rerated"]!["total"]!, (string)rerated["totals"]!["difference"]!));
        Assert.StartsWith("price book: not valid JSON: ",
            (string?)(await answers.RerateAsync("?period=2026-10", "no json", HttpStatusCode.BadRequest))!["error"]);
        Assert.Equal("'' is not a billing period like 2026-10 (YYYY-MM); use ?period=",
            (string?)(await answers.RerateAsync("", Rerating.RerateTests.Doubled, HttpStatusCode.BadRequest))!["error"]);

        // The error answers.
        Assert.Equal("'October' is not a billing period like 2026-10 (YYYY-MM); use ?period=",
            (string?)(await answers.GetAsync("/api/invoices?period=October", "/api/invoices", HttpStatusCode.BadRequest))!["error"]);
        Assert.Equal("no invoice numbered 'INV-2026-000099'",
            (string?)(await answers.GetAsync("/api/invoices/INV-2026-000099", "/api/invoices/{number}", HttpStatusCode.NotFound))!["error"]);
        await answers.GetAsync("/api/invoices/INV-2026-000099/pdf", "/api/invoices/{number}/pdf", HttpStatusCode.NotFound);
        Assert.Equal("'INV-26-1' is not an invoice number like INV-2026-000042",
            (string?)(await answers.GetAsync("/api/invoices/INV-26-1", "/api/invoices/{number}", HttpStatusCode.BadRequest))!["error"]);
        await answers.GetAsync("/api/invoices/INV-26-1/pdf", "/api/invoices/{number}/pdf", HttpStatusCode.BadRequest);
        using (var accountB = host.ClientWith((await host.CreateKeyAsync("account", OctoberScenario.B)).Token))
            Assert.Equal($"no such resource: GET /api/usage/{OctoberScenario.A}/2026-10",
                (string?)(await answers.GetAsync($"/api/usage/{OctoberScenario.A}/2026-10", "/api/usage/{accountId}/{period}", HttpStatusCode.NotFound, accountB))!["error"]);
        Assert.Equal("'123' is not an account id (12 digits)",
            (string?)(await answers.GetAsync("/api/usage/123/2026-10", "/api/usage/{accountId}/{period}", HttpStatusCode.BadRequest))!["error"]);
        await answers.GetAsync("/api/dead-letters?limit=many", "/api/dead-letters", HttpStatusCode.BadRequest);
        Assert.Equal("the body must be a JSON array of usage records", (string?)(await answers.PostAsync("{}", HttpStatusCode.BadRequest))!["error"]);
        Assert.Equal("the batch has 10001 records; at most 10000 are accepted per request",
            (string?)(await answers.PostAsync("[" + string.Join(",", Enumerable.Repeat("{}", 10_001)) + "]", HttpStatusCode.RequestEntityTooLarge))!["error"]);

        var replayed = (await answers.ReplayAsync("?all=true", HttpStatusCode.OK))!;
        Assert.Equal("""{"replayed":2,"accepted":0,"duplicates":0,"rejected":2}""", replayed.ToJsonString());
        Assert.Equal("say which: ?id=ID for one dead letter, or ?all=true for every one not replayed before", (string?)(await answers.ReplayAsync("", HttpStatusCode.BadRequest))!["error"]);
        Assert.Equal("no dead letter 0190a000-0000-7000-8000-000000000000", (string?)(await answers.ReplayAsync("?id=0190a000-0000-7000-8000-000000000000", HttpStatusCode.NotFound))!["error"]);
        var letters = (await answers.GetAsync("/api/dead-letters", "/api/dead-letters", HttpStatusCode.OK))!.AsArray();
        Assert.Equal(4, letters.Count);

        // Every answer the document promises was seen and checked above, except those no test here can bring about.
        var documented = document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().SelectMany(o => o.Value!["responses"]!.AsObject().Select(r => $"{o.Key.ToUpperInvariant()} {p.Key} {r.Key}")))
            .Where(a => !CannotBeBroughtAbout(a));
        Assert.Equal(documented.Order(StringComparer.Ordinal), answers.Checked);
    }

    [Fact]
    public async Task The_checker_refuses_json_that_departs_from_the_document()
    {
        await using var host = await BillingTestHost.StartAsync();
        var checker = new SchemaChecker(await OpenApiDocumentTests.DocumentAsync(host));
        var schema = checker.ResponseSchema("GET", "/api/usage/{accountId}/{period}", 200);
        var real = JsonNode.Parse(OctoberScenario.ExpectedA)!;
        Assert.Empty(checker.Check(schema, real));

        var wrong = real.DeepClone();
        wrong["dataProcessed"]![0]!["gb"] = 0.5m;          // a decimal as a JSON number
        wrong["crossAz"]![0]!.AsObject().Remove("bytes");    // a required property missing
        wrong["endpointHours"]![0]!["endpointType"] = "Vpn"; // a value the enum lacks
        wrong["note"] = "hello";                             // a property the document does not name
        Assert.Equal([
            "$.endpointHours[0].endpointType: \"Vpn\" is not one of [\"Interface\",\"GatewayLoadBalancer\",\"Resource\",\"Gateway\"]",
            "$.dataProcessed[0].gb: 0.5 is number, the document says string",
            "$.crossAz[0]: the required property 'bytes' is missing",
            "$: the property 'note' is not in the document",
        ], checker.Check(schema, wrong));
    }
}
