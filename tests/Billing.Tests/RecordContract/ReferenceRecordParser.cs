using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Billing.Events;
using NodaTime;
using NodaTime.Text;

namespace Billing.Tests.RecordContract;

// The identifier patterns end in \z here, not $: the one intended difference from the parser as it
// was (whose $ let an id with one trailing newline through as a different id).

/// <summary>
/// The record parser as it was before the single pass (JsonDocument, then a walk of the DOM), kept
/// word for word as the reference that <see cref="RecordParserSinglePassTests"/> compares the
/// single-pass <see cref="RecordParser"/> with. Test-only: never change it to match the new parser.
/// </summary>
public static partial class ReferenceRecordParser
{
    public const long MaxBytes = 1_000_000_000_000_000; // 10^15, spec section 3
    public const int MaxTextLength = 256;

    public static ParseResult Parse(string json, ParseContext context)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            return Fail(RecordError.MalformedJson(e.Message), null);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Fail(RecordError.NotAnObject(), null);
            if (Unreadable(root, "") is { } problem) return Fail(problem, null);
            var r = new Reader(root);
            var id = r.Id();
            if (r.Error is not null) return Fail(r.Error, null);
            var type = root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (type is null && root.TryGetProperty("type", out _)) return Fail(RecordError.Invalid("type", "must be a string"), id);
            if (!TypeNames.Contains(type ?? "")) return Fail(RecordError.UnknownType(type), id);
            var at = r.Instant("at");
            IUsageRecord? record = type switch
            {
                "account.opened" => new AccountOpened(id, at, r.AccountId("accountId"), r.Text("name"), r.Address("billingAddress")),
                "account.address-changed" => new AccountAddressChanged(id, at, r.AccountId("accountId"), r.Address("billingAddress")),
                "endpoint.created" => r.Created(id, at, context),
                "endpoint.az-added" => new EndpointAzAdded(id, at, r.EndpointId(), r.AzId("azId")),
                "endpoint.az-removed" => new EndpointAzRemoved(id, at, r.EndpointId(), r.AzId("azId")),
                "endpoint.accepted" => new EndpointAccepted(id, at, r.EndpointId()),
                "endpoint.rejected" => new EndpointRejected(id, at, r.EndpointId()),
                "endpoint.payer-changed" => new EndpointPayerChanged(id, at, r.EndpointId(), r.AccountId("payerAccountId")),
                "endpoint.deleted" => new EndpointDeleted(id, at, r.EndpointId()),
                "traffic.processed" => r.Traffic(id, at),
                _ => null,
            };
            if (record is null && r.Error is null) return Fail(RecordError.UnknownType(type), id);
            if (r.Error is not null) return Fail(r.Error, id);
            if (record!.At > context.Now + ParseContext.FutureTolerance)
                return Fail(RecordError.Future(Format(record.At), Format(context.Now)), id);
            // The late window bounds charges, not facts (spec 8, v1.1): only traffic can be too late.
            if (record is TrafficProcessed && context.OldestAccepted is { } oldest && record.At < oldest)
                return Fail(RecordError.TooLate(Format(record.At), Format(oldest)), id);
            return new ParseResult(record, null, id);
        }
    }

    /// <summary>
    /// What System.Text.Json accepts but a record must not contain: a key given twice (which value
    /// counts would be a guess) and a string with an unpaired UTF-16 surrogate escape (not text).
    /// </summary>
    static RecordError? Unreadable(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try { name = property.Name; }
                    catch (InvalidOperationException) { return RecordError.MalformedJson($"a key under '{path}' has an unpaired UTF-16 surrogate escape"); }
                    if (!seen.Add(name)) return RecordError.MalformedJson($"key '{path}{name}' appears more than once");
                    if (Unreadable(property.Value, $"{path}{name}.") is { } inner) return inner;
                }
                return null;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                    if (Unreadable(item, path) is { } inner) return inner;
                return null;
            case JsonValueKind.String:
                try
                {
                    element.GetString();
                    return null;
                }
                catch (InvalidOperationException)
                {
                    return RecordError.Invalid(path.TrimEnd('.'), "contains an unpaired UTF-16 surrogate escape (not valid text)");
                }
            default:
                return null;
        }
    }

    static readonly HashSet<string> TypeNames =
    [
        "account.opened", "account.address-changed", "endpoint.created", "endpoint.az-added", "endpoint.az-removed",
        "endpoint.accepted", "endpoint.rejected", "endpoint.payer-changed", "endpoint.deleted", "traffic.processed",
    ];

    public static string Format(Instant at) => InstantPattern.ExtendedIso.Format(at);

    static ParseResult Fail(RecordError error, string? id) => new(null, error, id);

    [GeneratedRegex("^[0-9]{12}\\z")] private static partial Regex AccountIdPattern();
    [GeneratedRegex("^vpce-[0-9a-f]{8,17}\\z")] private static partial Regex EndpointIdPattern();
    [GeneratedRegex("^vpc-[0-9a-f]{8,17}\\z")] private static partial Regex VpcIdPattern();
    [GeneratedRegex("^[a-z]{2,4}(-[a-z]+)+-[0-9]+\\z")] private static partial Regex RegionPattern();
    [GeneratedRegex("^[a-z]{3,8}[0-9]+-az[0-9]+\\z")] private static partial Regex AzIdPattern();
    [GeneratedRegex("^[A-Z]{2}\\z")] private static partial Regex CountryPattern();
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([+-]\d{2}:?\d{2})$")] private static partial Regex OffsetInstantPattern();

    /// <summary>Reads fields, keeping the first error; later reads after an error are no-ops.</summary>
    private sealed class Reader(JsonElement root, string prefix = "")
    {
        public RecordError? Error { get; private set; }

        T Fail<T>(RecordError e, T fallback)
        {
            Error ??= e;
            return fallback;
        }

        JsonElement? Field(string name, bool required = true)
        {
            if (Error is not null) return null;
            if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
                return required ? Fail<JsonElement?>(RecordError.Missing(prefix + name), null) : null;
            return v;
        }

        string String(string name, bool required = true)
        {
            var v = Field(name, required);
            if (v is null) return "";
            if (v.Value.ValueKind != JsonValueKind.String) return Fail(RecordError.Invalid(prefix + name, $"must be a string, not {Kind(v.Value)}"), "");
            return v.Value.GetString()!;
        }

        public string Id()
        {
            var id = String("id");
            if (Error is not null) return id;
            if (id.Length is < 1 or > 128) return Fail(RecordError.Invalid("id", $"must be 1-128 characters long, not {id.Length}"), id);
            if (id.Any(c => c is < ' ' or > '~')) return Fail(RecordError.Invalid("id", "must be printable ASCII only"), id);
            return id;
        }

        public Instant Instant(string name)
        {
            var s = String(name);
            if (Error is not null) return default;
            var parsed = InstantPattern.ExtendedIso.Parse(s);
            if (parsed.Success) return parsed.Value;
            return OffsetInstantPattern().IsMatch(s)
                ? Fail(RecordError.Invalid(prefix + name, $"'{Clip(s)}' has a UTC offset; instants must be UTC and end in 'Z'"), default(Instant))
                : Fail(RecordError.Invalid(prefix + name, $"'{Clip(s)}' is not an ISO-8601 UTC instant like 2026-10-01T10:50:00Z"), default(Instant));
        }

        public string Text(string name, bool required = true)
        {
            var s = String(name, required);
            if (Error is not null || (!required && s.Length == 0)) return s;
            if (s.Trim().Length == 0) return Fail(RecordError.Invalid(prefix + name, "must not be empty"), s);
            if (s.Length > MaxTextLength) return Fail(RecordError.Invalid(prefix + name, $"is {s.Length} characters long; at most {MaxTextLength} are allowed"), s);
            if (s.Any(char.IsControl)) return Fail(RecordError.Invalid(prefix + name, "contains control characters"), s);
            return s;
        }

        string Matching(string name, Regex pattern, string example, bool required = true)
        {
            var s = String(name, required);
            if (Error is null && !required && s.Length == 0 && Field(name, false) is { ValueKind: JsonValueKind.String })
                return Fail(RecordError.Invalid(prefix + name, "must not be empty (leave it out when there is none)"), s);
            if (Error is not null || (!required && s.Length == 0)) return s;
            return pattern.IsMatch(s) ? s : Fail(RecordError.Invalid(prefix + name, $"'{Clip(s)}' is not valid (expected something like {example})"), s);
        }

        public string AccountId(string name) => Matching(name, AccountIdPattern(), "111122223333: 12 digits");

        public string EndpointId() => Matching("endpointId", EndpointIdPattern(), "vpce-0a1b2c3d4e5f60718");

        public string AzId(string name, bool required = true) =>
            Matching(name, AzIdPattern(), "use1-az1: an AZ ID, not an AZ name such as us-east-1a", required);

        public BillingAddress Address(string name)
        {
            var v = Field(name);
            if (v is null) return null!;
            if (v.Value.ValueKind != JsonValueKind.Object) return Fail(RecordError.Invalid(prefix + name, "must be an object"), (BillingAddress)null!);
            var a = new Reader(v.Value, name + ".");
            var address = new BillingAddress(a.Text("line1"), a.Text("line2", required: false) is { Length: > 0 } l2 ? l2 : null,
                a.Text("city"), a.Text("postalCode", required: false) is { Length: > 0 } pc ? pc : null,
                a.Matching("country", CountryPattern(), "JP: an ISO 3166-1 alpha-2 code"));
            Error ??= a.Error;
            return address;
        }

        public EndpointCreated Created(string id, Instant at, ParseContext context)
        {
            var endpointId = EndpointId();
            var accountId = AccountId("accountId");
            var region = Matching("region", RegionPattern(), "us-east-1");
            if (Error is null && !context.KnownRegions.Contains(region)) Error = RecordError.UnknownRegion(region);
            var vpcId = Matching("vpcId", VpcIdPattern(), "vpc-0123456789abcdef0");
            var serviceName = Text("serviceName");
            var typeText = String("endpointType");
            var type = default(EndpointType);
            if (Error is null && (!Enum.GetNames<EndpointType>().Contains(typeText, StringComparer.Ordinal) || !Enum.TryParse(typeText, out type)))
                Error = RecordError.Invalid("endpointType", $"'{Clip(typeText)}' is not one of {string.Join(", ", Enum.GetNames<EndpointType>())}");
            var azIds = new List<string>();
            var list = Field("azIds");
            if (list is { } arr)
            {
                if (arr.ValueKind != JsonValueKind.Array) Error ??= RecordError.Invalid("azIds", "must be an array of AZ IDs");
                else if (arr.GetArrayLength() == 0) Error ??= RecordError.Invalid("azIds", "must list at least one AZ ID");
                else
                    foreach (var item in arr.EnumerateArray())
                    {
                        if (item.ValueKind != JsonValueKind.String || !AzIdPattern().IsMatch(item.GetString()!))
                        {
                            Error ??= RecordError.Invalid("azIds", $"element {Clip(item.GetRawText())} is not an AZ ID like use1-az1");
                            break;
                        }
                        var az = item.GetString()!;
                        if (azIds.Contains(az)) { Error ??= RecordError.Invalid("azIds", $"lists '{az}' twice"); break; }
                        azIds.Add(az);
                    }
            }
            if (Error is null)
                foreach (var az in azIds)
                    if (!AvailabilityZones.BelongsTo(az, region))
                    {
                        Error = RecordError.Invalid("azIds", $"'{az}' is not an AZ of region {region} (expected {AvailabilityZones.Prefix(region)}-azN)");
                        break;
                    }
            return new EndpointCreated(id, at, endpointId, accountId, region, vpcId, serviceName, type, azIds);
        }

        public TrafficProcessed Traffic(string id, Instant at)
        {
            var endpointId = EndpointId();
            var azId = AzId("azId");
            var source = AzId("sourceAzId", required: false);
            long bytes = 0;
            var v = Field("bytes");
            if (v is { } b)
            {
                if (b.ValueKind != JsonValueKind.Number) Error ??= RecordError.Invalid("bytes", $"must be an integer number, not {Kind(b)}");
                else
                {
                    var text = Clip(b.GetRawText());
                    var exact = b.TryGetDecimal(out var value);
                    var sign = exact ? Math.Sign(value) : (b.TryGetDouble(out var magnitude) ? Math.Sign(magnitude) : 1);
                    if (sign < 0) Error ??= RecordError.Invalid("bytes", $"{text} is negative");
                    else if (!exact || value > MaxBytes) Error ??= RecordError.Invalid("bytes", $"{text} is above the maximum of 10^15");
                    else if (value != decimal.Truncate(value)) Error ??= RecordError.Invalid("bytes", $"{text} is not a whole number of bytes");
                    else if (b.GetRawText().IndexOfAny(['.', 'e', 'E']) >= 0) Error ??= RecordError.Invalid("bytes", $"{text} is not an integer literal: a count of bytes has no fraction or exponent (write {decimal.Truncate(value).ToString(System.Globalization.CultureInfo.InvariantCulture)})");
                    else bytes = (long)value;
                }
            }
            return new TrafficProcessed(id, at, endpointId, azId, source.Length == 0 ? null : source, bytes);
        }

        static string Kind(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.Number => "a number",
            JsonValueKind.String => "a string",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            JsonValueKind.Array => "an array",
            JsonValueKind.Object => "an object",
            _ => e.ValueKind.ToString().ToLowerInvariant(),
        };
    }

    /// <summary>Shortens a value quoted in an error so a megabyte-long field does not fill the dead-letter store.</summary>
    static string Clip(string s) => s.Length <= 64 ? s : s[..61] + "...";
}
