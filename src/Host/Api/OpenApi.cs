using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using NodaTime;
using Scalar.AspNetCore;

namespace Billing.Host.Api;

/// <summary>
/// The OpenAPI document of the HTTP API, generated at run time from the routes' metadata and
/// served at <see cref="DocumentPath"/>, and Scalar's interactive reference at <see cref="DocsPath"/>.
/// Both are public and carry no customer data: they describe the routes, never call them.
/// </summary>
public static class OpenApi
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/v1.json";
    public const string DocsPath = "/docs";

    /// <summary>The security scheme's key in the document's components.</summary>
    public const string BearerScheme = "bearer";

    public static IServiceCollection AddBillingOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(DocumentName, options =>
        {
            options.AddSchemaTransformer((schema, context, _) =>
            {
                DescribeWireTypes(schema, context);
                return Task.CompletedTask;
            });
            options.AddDocumentTransformer(async (document, context, ct) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "billing",
                    Version = DocumentName,
                    Description = "Metering and invoicing of private endpoints. Every /api route takes an API key as `Authorization: Bearer <api key>`; decimals are JSON strings, instants ISO-8601 UTC strings.",
                };
                await SecureApiRoutesAsync(document, context, ct);
            });
        });

    public static void MapBillingOpenApi(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath.Replace(DocumentName, "{documentName}", StringComparison.Ordinal))
            .AllowAnonymous();
        // The page's script is the package's embedded scalar.js (Scalar's default bundle URL is relative to
        // the page); the fonts and telemetry would come from Scalar's servers, and the machine may be offline.
        app.MapScalarApiReference(DocsPath, options => options
                .WithTitle("billing API")
                .WithOpenApiRoutePattern(DocumentPath)
                .DisableDefaultFonts()
                .DisableTelemetry()
                .DisableAgent()
                .DisableMcp())
            .AllowAnonymous();
    }

    /// <summary>
    /// What the generator cannot know from the CLR types: NodaTime instants are written as ISO-8601
    /// strings by the service's converters, and some string properties take a fixed set of values.
    /// </summary>
    static void DescribeWireTypes(OpenApiSchema schema, OpenApiSchemaTransformerContext context)
    {
        var type = context.JsonTypeInfo.Type;
        // The web defaults read numbers from strings too, so the generator says "integer or string";
        // the service writes integers as JSON numbers, and a query string is text either way.
        if (schema.Type is { } t && t.HasFlag(JsonSchemaType.Integer) && t.HasFlag(JsonSchemaType.String))
        {
            schema.Type = t & ~JsonSchemaType.String;
            schema.Pattern = null;
        }
        if (type == typeof(Instant) || type == typeof(Instant?))
        {
            schema.Type = type == typeof(Instant?) ? JsonSchemaType.String | JsonSchemaType.Null : JsonSchemaType.String;
            schema.Format = "date-time";
            schema.Properties = null;
            schema.Description ??= "An instant, ISO-8601 in UTC: 2026-10-01T00:00:00Z.";
        }
        if (context.JsonPropertyInfo?.AttributeProvider?.GetCustomAttributes(typeof(WireValuesAttribute), false) is [WireValuesAttribute values])
            schema.Enum = values.Values.Select(v => (JsonNode)JsonValue.Create(v)).ToList();
    }

    /// <summary>
    /// Every /api operation requires the bearer scheme and may answer 401/403 (no or wrong key),
    /// 429 (rate limit) and 503 (PostgreSQL unavailable, <see cref="StoreUnavailable"/>), all as
    /// <see cref="ApiError"/>. Done once here rather than on each route, so a new route cannot miss it.
    /// </summary>
    static async Task SecureApiRoutesAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken ct)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key: `Authorization: Bearer <api key>`; or, when the service sets BILLING_JWT_AUTHORITY, a JWT from that OpenID Connect issuer (docs/jwt.md).",
        };
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey(nameof(ApiError)))
            document.Components.Schemas[nameof(ApiError)] = await context.GetOrCreateSchemaAsync(typeof(ApiError), null, ct);

        foreach (var (path, item) in document.Paths)
        {
            if (!path.StartsWith("/api/", StringComparison.Ordinal) || item.Operations is null) continue;
            foreach (var operation in item.Operations.Values)
            {
                operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] }];
                operation.Responses ??= new OpenApiResponses();
                AddError(operation, document, "401", "No API key, or one that is not valid.");
                AddError(operation, document, "403", "The API key may not use this route.");
                AddError(operation, document, "429", "Too many requests for this API key; retry after Retry-After seconds.", retryAfter: true);
                AddError(operation, document, "503", StoreUnavailable.Message, retryAfter: true);
            }
        }
    }

    static void AddError(OpenApiOperation operation, OpenApiDocument document, string status, string description, bool retryAfter = false)
    {
        var response = operation.Responses!.TryGetValue(status, out var existing) && existing is OpenApiResponse known
            ? known
            : new OpenApiResponse();
        // A route that answers this status for reasons of its own (a PDF still rendering) says both.
        response.Description = response.Description is null || response.Description == ReasonPhrases.GetReasonPhrase(int.Parse(status, CultureInfo.InvariantCulture))
            ? description
            : $"{response.Description}; or: {description}";
        operation.Responses[status] = response;
        response.Content ??= new Dictionary<string, OpenApiMediaType>();
        response.Content.TryAdd("application/json", new OpenApiMediaType { Schema = new OpenApiSchemaReference(nameof(ApiError), document) });
        if (!retryAfter) return;
        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers["Retry-After"] = new OpenApiHeader
        {
            Description = "Seconds to wait before sending the same request again.",
            Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
        };
    }
}
