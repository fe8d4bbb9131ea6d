using System.Net;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Billing.Host.Api;
using Billing.Tests.Support;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Billing.Tests.Api;

/// <summary>The OpenAPI document at /openapi/v1.json and the reference page at /docs, over real HTTP, without an API key.</summary>
public class OpenApiDocumentTests
{
    static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

    /// <summary>An anonymous client: the document and the page must not need the operator's key that host.Http carries.</summary>
    static HttpClient Anonymous(BillingTestHost host) => new() { BaseAddress = host.Http.BaseAddress };

    internal static async Task<JsonNode> DocumentAsync(BillingTestHost host)
    {
        using var http = Anonymous(host);
        using var response = await http.GetAsync(OpenApi.DocumentPath);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    /// <summary>"GET /api/invoices/{number}" for each operation of the document.</summary>
    static List<string> DocumentedOperations(JsonNode document) =>
        document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject().Where(o => Methods.Contains(o.Key)).Select(o => $"{o.Key.ToUpperInvariant()} {path.Key}"))
            .Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task The_document_names_every_api_route_the_app_serves_and_no_other()
    {
        await using var host = await BillingTestHost.StartAsync();
        var documented = DocumentedOperations(await DocumentAsync(host));

        // The routes as the app really maps them, constraints dropped ({n:int} is {n} in a path template).
        var served = host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"])
                .Select(method => $"{method} {"/" + Regex.Replace(e.RoutePattern.RawText!.TrimStart('/'), @"\{([^}:=?]+)[^}]*\}", "{$1}")}"))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        // The rule: every /api route is documented; the rest (the document itself, /docs, health and
        // metrics) is infrastructure and need not be, but whatever is documented must be served.
        // The /api fallback (any method) answers 404 for what does not exist: it is no operation.
        var servedApi = served.Where(r => r.Split(' ')[1].StartsWith("/api/", StringComparison.Ordinal) && !r.StartsWith("* ", StringComparison.Ordinal)).ToList();

        Assert.Empty(servedApi.Except(documented));
        Assert.Empty(documented.Except(served));
        Assert.Contains("* /api/{**path}", served);
        Assert.Equal([
            "DELETE /api/budgets/{id}",
            "GET /api/budgets",
            "GET /api/dead-letters",
            "GET /api/invoices",
            "GET /api/invoices/{number}",
            "GET /api/invoices/{number}/pdf",
            "GET /api/invoices/{number}/verify",
            "GET /api/spend/{accountId}/{period}",
            "GET /api/usage/{accountId}/{period}",
            "POST /api/budgets",
            "POST /api/dead-letters/replay",
            "POST /api/rerate",
            "POST /api/usage/events",
        ], documented);
    }

    [Fact]
    public async Task Every_api_operation_requires_the_bearer_api_key()
    {
        await using var host = await BillingTestHost.StartAsync();
        var document = await DocumentAsync(host);

        var scheme = document["components"]!["securitySchemes"]![OpenApi.BearerScheme]!;
        Assert.Equal(("http", "bearer"), ((string)scheme["type"]!, (string)scheme["scheme"]!));
        var operations = document["paths"]!.AsObject()
            .Where(p => p.Key.StartsWith("/api/", StringComparison.Ordinal))
            .SelectMany(p => p.Value!.AsObject().Where(o => Methods.Contains(o.Key)).Select(o => (Name: $"{o.Key} {p.Key}", Operation: o.Value!)))
            .ToList();
        Assert.Equal(13, operations.Count);
        foreach (var (name, operation) in operations)
        {
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse($$"""[{"{{OpenApi.BearerScheme}}":[]}]"""), operation["security"]), $"{name}: {operation["security"]?.ToJsonString()}");
            foreach (var status in new[] { "401", "403", "429", "503" })
                Assert.True(operation["responses"]?[status]?["content"]?["application/json"]?["schema"]?["$ref"]?.GetValue<string>() == "#/components/schemas/ApiError",
                    $"{name} documents no {status} {{\"error\": ...}}");
        }
    }

    [Fact]
    public async Task The_reference_page_is_served_with_its_script_from_the_app_itself()
    {
        await using var host = await BillingTestHost.StartAsync();
        using var http = Anonymous(host);

        // /docs redirects to /docs/, so that the page's relative script addresses resolve under it.
        using var page = await http.GetAsync(OpenApi.DocsPath);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var pageUri = page.RequestMessage!.RequestUri!;
        Assert.Equal(OpenApi.DocsPath + "/", pageUri.AbsolutePath);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("\"url\":\"openapi/v1.json\"", html);

        var scripts = Regex.Matches(html, "<script[^>]*\\ssrc=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["scalar.js", "scalar.aspnetcore.js"], scripts);
        foreach (var src in scripts)
        {
            var uri = new Uri(pageUri, src);
            Assert.Equal(host.Http.BaseAddress!.Authority, uri.Authority); // from the app, not a CDN
            using var script = await http.GetAsync(uri);
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        }
        // The standalone bundle itself (megabytes), not a loader that fetches the reference from elsewhere.
        Assert.True((await http.GetByteArrayAsync(new Uri(pageUri, "scalar.js"))).Length > 1_000_000);
    }
}
