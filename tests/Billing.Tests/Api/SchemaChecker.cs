using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NodaTime.Text;

namespace Billing.Tests.Api;

/// <summary>
/// Checks JSON against the subset of JSON Schema the OpenAPI document uses: $ref to the document's
/// components, type (one or a list, with null), properties, required, items, enum, pattern, oneOf, and
/// the formats date-time (an ISO-8601 instant), uuid, int32 and int64. Stricter than JSON Schema in
/// two ways, so that the document says all the JSON does: a property the schema does not name is an
/// error, and so is a keyword the checker does not know (it would otherwise be ignored silently).
/// </summary>
public sealed class SchemaChecker(JsonNode document)
{
    static readonly HashSet<string> Known = ["$ref", "type", "properties", "required", "items", "enum", "pattern", "oneOf", "format", "description"];

    /// <summary>The document's responses/{status} object of an operation.</summary>
    public JsonNode Responses(string method, string template, int status) =>
        document["paths"]?[template]?[method.ToLowerInvariant()]?["responses"]?[status.ToString(CultureInfo.InvariantCulture)]
        ?? throw new KeyNotFoundException($"the document has no answer {status} for {method} {template}");

    /// <summary>The schema itself, or the one its $ref names.</summary>
    public JsonNode Resolved(JsonNode schema) => schema["$ref"] is { } reference ? Resolve((string)reference!) : schema;

    /// <summary>The schema of an operation's answer: the document's paths/{template}/{method}/responses/{status}/content/{mediaType}/schema.</summary>
    public JsonNode ResponseSchema(string method, string template, int status, string mediaType = "application/json") =>
        document["paths"]?[template]?[method.ToLowerInvariant()]?["responses"]?[status.ToString(CultureInfo.InvariantCulture)]?["content"]?[mediaType]?["schema"]
        ?? throw new KeyNotFoundException($"the document has no {mediaType} schema for {method} {template} answering {status}");

    /// <summary>Every way <paramref name="json"/> departs from <paramref name="schema"/>, each with its JSON path; empty if none.</summary>
    public List<string> Check(JsonNode schema, JsonNode? json)
    {
        var errors = new List<string>();
        Check(schema, json, "$", errors);
        return errors;
    }

    void Check(JsonNode schema, JsonNode? json, string at, List<string> errors)
    {
        var s = schema.AsObject();
        foreach (var (keyword, _) in s)
            if (!Known.Contains(keyword)) errors.Add($"{at}: the schema uses '{keyword}', which this checker does not know");
        if (s["$ref"] is { } reference)
        {
            Check(Resolve((string)reference!), json, at, errors);
            return;
        }
        if (s["oneOf"] is JsonArray options)
        {
            var matching = options.Count(o => Check(o!, json).Count == 0);
            if (matching != 1) errors.Add($"{at}: {Describe(json)} matches {matching} of the {options.Count} schemas of oneOf");
            return;
        }
        if (s["type"] is { } type)
        {
            var types = type is JsonArray many ? many.Select(t => (string)t!).ToList() : [(string)type!];
            var actual = TypeOf(json);
            if (!types.Contains(actual) && !(actual == "integer" && types.Contains("number")))
            {
                errors.Add($"{at}: {Describe(json)} is {actual}, the document says {string.Join(" or ", types)}");
                return;
            }
        }
        if (json is null) return;
        if (s["enum"] is JsonArray values && !values.Any(v => JsonNode.DeepEquals(v, json)))
            errors.Add($"{at}: {Describe(json)} is not one of {values.ToJsonString()}");
        if (json is JsonValue value && value.TryGetValue<string>(out var text))
        {
            if (s["pattern"] is { } pattern && !Regex.IsMatch(text, (string)pattern!))
                errors.Add($"{at}: \"{text}\" does not match {(string)pattern!}");
            switch ((string?)s["format"])
            {
                case "date-time" when !InstantPattern.ExtendedIso.Parse(text).Success:
                    errors.Add($"{at}: \"{text}\" is not an ISO-8601 instant");
                    break;
                case "uuid" when !Guid.TryParseExact(text, "D", out _):
                    errors.Add($"{at}: \"{text}\" is not a uuid");
                    break;
            }
        }
        if (json is JsonValue number && TypeOf(json) == "integer")
        {
            var n = number.GetValue<decimal>();
            if ((string?)s["format"] == "int32" && (n < int.MinValue || n > int.MaxValue)) errors.Add($"{at}: {n} is not an int32");
            if ((string?)s["format"] == "int64" && (n < long.MinValue || n > long.MaxValue)) errors.Add($"{at}: {n} is not an int64");
        }
        if (json is JsonArray array && s["items"] is { } items)
            for (var i = 0; i < array.Count; i++) Check(items, array[i], $"{at}[{i}]", errors);
        if (json is JsonObject obj)
        {
            var properties = s["properties"]?.AsObject();
            foreach (var required in s["required"]?.AsArray() ?? [])
                if (!obj.ContainsKey((string)required!)) errors.Add($"{at}: the required property '{(string)required!}' is missing");
            foreach (var (name, child) in obj)
            {
                if (properties?[name] is { } property) Check(property, child, $"{at}.{name}", errors);
                else errors.Add($"{at}: the property '{name}' is not in the document");
            }
        }
    }

    JsonNode Resolve(string reference)
    {
        const string prefix = "#/components/schemas/";
        if (!reference.StartsWith(prefix, StringComparison.Ordinal)) throw new NotSupportedException($"$ref {reference}");
        return document["components"]?["schemas"]?[reference[prefix.Length..]] ?? throw new KeyNotFoundException($"$ref {reference} names no schema");
    }

    static string TypeOf(JsonNode? json) => json?.GetValueKind() switch
    {
        null or System.Text.Json.JsonValueKind.Null => "null",
        System.Text.Json.JsonValueKind.Object => "object",
        System.Text.Json.JsonValueKind.Array => "array",
        System.Text.Json.JsonValueKind.String => "string",
        System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => "boolean",
        _ => json.AsValue().TryGetValue<long>(out _) || decimal.Truncate(json.GetValue<decimal>()) == json.GetValue<decimal>() ? "integer" : "number",
    };

    static string Describe(JsonNode? json)
    {
        var text = json?.ToJsonString() ?? "null";
        return text.Length > 60 ? text[..60] + "…" : text;
    }
}
