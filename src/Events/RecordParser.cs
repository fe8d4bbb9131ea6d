using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Unicode;
using NodaTime;
using NodaTime.Text;

namespace Billing.Events;

/// <summary>What the parser checks a record against besides its own text.</summary>
/// <param name="Now">Arrival time: records dated more than <see cref="FutureTolerance"/> later are refused.</param>
/// <param name="KnownRegions">Regions that have a price book; others are refused.</param>
/// <param name="OldestAccepted">Traffic dated before this (the start of the oldest period still open to late events) is refused as too late; lifecycle records of any age are not.</param>
public sealed record ParseContext(Instant Now, IReadOnlySet<string> KnownRegions, Instant? OldestAccepted = null)
{
    public static readonly Duration FutureTolerance = Duration.FromMinutes(5);
}

/// <summary>Either a valid record or the specific reason it is not one.</summary>
public readonly record struct ParseResult(IUsageRecord? Record, RecordError? Error, string? RecordId)
{
    public bool IsValid => Record is not null;
}

/// <summary>
/// Reads one JSON record of the ingestion contract (spec section 9) and validates every field,
/// answering with the first specific problem found. Pure: no I/O, no clock.
/// </summary>
/// <remarks>
/// A record is read once, in a single pass of <see cref="Utf8JsonReader"/> over its UTF-8 text
/// (<see cref="RecordFields.Read"/>), then validated field by field in a fixed order
/// (<see cref="Validate"/>): that order decides which problem a record with several is refused
/// for, and the dead-letter corpus and the tests pin it with the messages.
/// </remarks>
public static partial class RecordParser
{
    public const long MaxBytes = 1_000_000_000_000_000; // 10^15, spec section 3
    public const int MaxTextLength = 256;

    // Records up to this many characters are transcoded on the stack (a traffic record is about 200).
    const int StackChars = 512;

    public static ParseResult Parse(string json, ParseContext context)
    {
        ArgumentNullException.ThrowIfNull(json);
        byte[]? rented = null;
        Span<byte> buffer = json.Length <= StackChars
            ? stackalloc byte[json.Length * 3] // at most 3 UTF-8 bytes for each UTF-16 character
            : (rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(json.Length)));
        try
        {
            if (Utf8.FromUtf16(json, buffer, out _, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
                return UnpairedSurrogateCharacter(json);
            return ParseUtf8(buffer[..written], context);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The same as <see cref="Parse(string, ParseContext)"/> of <c>Encoding.UTF8.GetString(utf8Json)</c>,
    /// without the string: bytes that are not UTF-8 are read as that decoding reads them (U+FFFD).
    /// </summary>
    public static ParseResult Parse(ReadOnlySpan<byte> utf8Json, ParseContext context) =>
        Utf8.IsValid(utf8Json) ? ParseUtf8(utf8Json, context) : Parse(Encoding.UTF8.GetString(utf8Json), context);

    /// <summary>
    /// A string holding half a surrogate pair (not an escape: the character itself) cannot be
    /// transcoded to UTF-8. System.Text.Json throws its ArgumentException for it, which callers
    /// have always received; the same exception is raised the same way.
    /// </summary>
    static ParseResult UnpairedSurrogateCharacter(string json)
    {
        using (JsonDocument.Parse(json)) { }
        throw new InvalidOperationException("System.Text.Json read text that is not UTF-16");
    }

    static ParseResult ParseUtf8(ReadOnlySpan<byte> utf8, ParseContext context)
    {
        var fields = new RecordFields();
        RecordError? unreadable;
        try
        {
            unreadable = RecordFields.Read(utf8, ref fields);
        }
        catch (JsonException e)
        {
            return Fail(RecordError.MalformedJson(e.Message), null);
        }
        if (!fields.IsObject) return Fail(RecordError.NotAnObject(), null);
        if (unreadable is not null) return Fail(unreadable, null);
        return Validate(utf8, ref fields, context);
    }

    /// <summary>How a record is validated: the id, the type, the instant, the fields of its type, then its date against the arrival time.</summary>
    static ParseResult Validate(ReadOnlySpan<byte> utf8, ref RecordFields f, ParseContext context)
    {
        var r = new FieldReader(utf8);
        var id = r.Id(f[RecordField.Id]);
        if (r.Error is not null) return Fail(r.Error, null);
        var type = f[RecordField.Type];
        if (type.Kind is not (JsonTokenType.None or JsonTokenType.String)) return Fail(RecordError.Invalid("type", "must be a string"), id);
        var recordType = type.Kind == JsonTokenType.String ? r.RecordTypeOf(type) : -1;
        if (recordType < 0) return Fail(RecordError.UnknownType(type.Kind == JsonTokenType.String ? r.Decode(type) : null), id);
        var at = r.Instant(f[RecordField.At], "at");
        IUsageRecord record = (RecordType)recordType switch
        {
            RecordType.AccountOpened => new AccountOpened(id, at, r.AccountId(f[RecordField.AccountId], "accountId"), r.Text(f[RecordField.Name], "name"), r.Address(ref f)),
            RecordType.AccountAddressChanged => new AccountAddressChanged(id, at, r.AccountId(f[RecordField.AccountId], "accountId"), r.Address(ref f)),
            RecordType.EndpointCreated => r.Created(id, at, ref f, context),
            RecordType.EndpointAzAdded => new EndpointAzAdded(id, at, r.EndpointId(f[RecordField.EndpointId]), r.AzId(f[RecordField.AzId], "azId")),
            RecordType.EndpointAzRemoved => new EndpointAzRemoved(id, at, r.EndpointId(f[RecordField.EndpointId]), r.AzId(f[RecordField.AzId], "azId")),
            RecordType.EndpointAccepted => new EndpointAccepted(id, at, r.EndpointId(f[RecordField.EndpointId])),
            RecordType.EndpointRejected => new EndpointRejected(id, at, r.EndpointId(f[RecordField.EndpointId])),
            RecordType.EndpointPayerChanged => new EndpointPayerChanged(id, at, r.EndpointId(f[RecordField.EndpointId]), r.AccountId(f[RecordField.PayerAccountId], "payerAccountId")),
            RecordType.EndpointDeleted => new EndpointDeleted(id, at, r.EndpointId(f[RecordField.EndpointId])),
            _ => r.Traffic(id, at, ref f),
        };
        if (r.Error is not null) return Fail(r.Error, id);
        if (record.At > context.Now + ParseContext.FutureTolerance)
            return Fail(RecordError.Future(Format(record.At), Format(context.Now)), id);
        // The late window bounds charges, not facts (spec 8, v1.1): only traffic can be too late.
        if (record is TrafficProcessed && context.OldestAccepted is { } oldest && record.At < oldest)
            return Fail(RecordError.TooLate(Format(record.At), Format(oldest)), id);
        return new ParseResult(record, null, id);
    }

    // In the order of TypeNames.
    enum RecordType
    {
        TrafficProcessed, AccountOpened, AccountAddressChanged, EndpointCreated, EndpointAzAdded, EndpointAzRemoved,
        EndpointAccepted, EndpointRejected, EndpointPayerChanged, EndpointDeleted,
    }

    static readonly string[] TypeNames =
    [
        "traffic.processed", "account.opened", "account.address-changed", "endpoint.created", "endpoint.az-added",
        "endpoint.az-removed", "endpoint.accepted", "endpoint.rejected", "endpoint.payer-changed", "endpoint.deleted",
    ];

    static readonly byte[][] TypeNamesUtf8 = [.. TypeNames.Select(Encoding.UTF8.GetBytes)];

    static readonly string[] EndpointTypeNames = Enum.GetNames<EndpointType>();
    static readonly string EndpointTypeList = string.Join(", ", EndpointTypeNames);

    public static string Format(Instant at) => InstantPattern.ExtendedIso.Format(at);

    static ParseResult Fail(RecordError error, string? id) => new(null, error, id);

    // Only for the message of an instant that does not parse.
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([+-]\d{2}:?\d{2})$")] private static partial Regex OffsetInstantPattern();

    /// <summary>Reads fields, keeping the first error; later reads after an error are no-ops.</summary>
    private ref struct FieldReader(ReadOnlySpan<byte> utf8)
    {
        readonly ReadOnlySpan<byte> _utf8 = utf8;

        public RecordError? Error { get; private set; }

        T Fail<T>(RecordError e, T fallback)
        {
            Error ??= e;
            return fallback;
        }

        public readonly string Decode(in FieldValue v) => v.Unescaped ?? Encoding.UTF8.GetString(_utf8.Slice(v.Start, v.Length));

        /// <summary>The value as it is written in the record, quotes and escapes included.</summary>
        readonly string RawText(in FieldValue v) => v.Kind == JsonTokenType.String
            ? Encoding.UTF8.GetString(_utf8.Slice(v.Start - 1, v.Length + 2))
            : Encoding.UTF8.GetString(_utf8.Slice(v.Start, v.Length));

        /// <summary>True when the field holds a value to read; false with nothing to read (a missing optional field, or an earlier error).</summary>
        bool Given(in FieldValue v, string name, bool required = true)
        {
            if (Error is not null) return false;
            if (!v.IsGiven) return required ? Fail(RecordError.Missing(name), false) : false;
            return true;
        }

        string String(in FieldValue v, string name, bool required = true)
        {
            if (!Given(v, name, required)) return "";
            if (v.Kind != JsonTokenType.String) return Fail(RecordError.Invalid(name, $"must be a string, not {Kind(v)}"), "");
            return Decode(v);
        }

        public readonly int RecordTypeOf(in FieldValue type)
        {
            if (type.Unescaped is { } text) return Array.IndexOf(TypeNames, text);
            var name = _utf8.Slice(type.Start, type.Length);
            for (var i = 0; i < TypeNamesUtf8.Length; i++)
                if (name.SequenceEqual(TypeNamesUtf8[i])) return i;
            return -1;
        }

        public string Id(in FieldValue v)
        {
            var id = String(v, "id");
            if (Error is not null) return id;
            if (id.Length is < 1 or > 128) return Fail(RecordError.Invalid("id", $"must be 1-128 characters long, not {id.Length}"), id);
            foreach (var c in id)
                if (c is < ' ' or > '~') return Fail(RecordError.Invalid("id", "must be printable ASCII only"), id);
            return id;
        }

        public Instant Instant(in FieldValue v, string name)
        {
            if (Error is null && v.Kind == JsonTokenType.String && v.Unescaped is null && TryReadUtcSeconds(_utf8.Slice(v.Start, v.Length), out var fast))
                return fast;
            var s = String(v, name);
            if (Error is not null) return default;
            var parsed = InstantPattern.ExtendedIso.Parse(s);
            if (parsed.Success) return parsed.Value;
            return OffsetInstantPattern().IsMatch(s)
                ? Fail(RecordError.Invalid(name, $"'{Clip(s)}' has a UTC offset; instants must be UTC and end in 'Z'"), default(Instant))
                : Fail(RecordError.Invalid(name, $"'{Clip(s)}' is not an ISO-8601 UTC instant like 2026-10-01T10:50:00Z"), default(Instant));
        }

        public string Text(in FieldValue v, string name, bool required = true)
        {
            var s = String(v, name, required);
            if (Error is not null || (!required && s.Length == 0)) return s;
            if (string.IsNullOrWhiteSpace(s)) return Fail(RecordError.Invalid(name, "must not be empty"), s);
            if (s.Length > MaxTextLength) return Fail(RecordError.Invalid(name, $"is {s.Length} characters long; at most {MaxTextLength} are allowed"), s);
            foreach (var c in s)
                if (char.IsControl(c)) return Fail(RecordError.Invalid(name, "contains control characters"), s);
            return s;
        }

        string Matching(in FieldValue v, string name, Func<string, bool> pattern, string example, bool required = true)
        {
            var s = String(v, name, required);
            if (Error is null && !required && s.Length == 0 && v.Kind == JsonTokenType.String)
                return Fail(RecordError.Invalid(name, "must not be empty (leave it out when there is none)"), s);
            if (Error is not null || (!required && s.Length == 0)) return s;
            return pattern(s) ? s : Fail(RecordError.Invalid(name, $"'{Clip(s)}' is not valid (expected something like {example})"), s);
        }

        public string AccountId(in FieldValue v, string name) => Matching(v, name, IsAccountId, "111122223333: 12 digits");

        public string EndpointId(in FieldValue v) => Matching(v, "endpointId", IsEndpointId, "vpce-0a1b2c3d4e5f60718");

        public string AzId(in FieldValue v, string name, bool required = true) =>
            Matching(v, name, IsAzId, "use1-az1: an AZ ID, not an AZ name such as us-east-1a", required);

        public BillingAddress Address(ref RecordFields f)
        {
            const string name = "billingAddress";
            if (!Given(f[RecordField.BillingAddress], name)) return null!;
            if (f[RecordField.BillingAddress].Kind != JsonTokenType.StartObject) return Fail(RecordError.Invalid(name, "must be an object"), (BillingAddress)null!);
            return new BillingAddress(
                Text(f[AddressField.Line1], "billingAddress.line1"),
                Text(f[AddressField.Line2], "billingAddress.line2", required: false) is { Length: > 0 } l2 ? l2 : null,
                Text(f[AddressField.City], "billingAddress.city"),
                Text(f[AddressField.PostalCode], "billingAddress.postalCode", required: false) is { Length: > 0 } pc ? pc : null,
                Matching(f[AddressField.Country], "billingAddress.country", IsCountry, "JP: an ISO 3166-1 alpha-2 code"));
        }

        public EndpointCreated Created(string id, Instant at, ref RecordFields f, ParseContext context)
        {
            var endpointId = EndpointId(f[RecordField.EndpointId]);
            var accountId = AccountId(f[RecordField.AccountId], "accountId");
            var region = Matching(f[RecordField.Region], "region", IsRegion, "us-east-1");
            if (Error is null && !context.KnownRegions.Contains(region)) Error = RecordError.UnknownRegion(region);
            var vpcId = Matching(f[RecordField.VpcId], "vpcId", IsVpcId, "vpc-0123456789abcdef0");
            var serviceName = Text(f[RecordField.ServiceName], "serviceName");
            var typeText = String(f[RecordField.EndpointType], "endpointType");
            var type = default(EndpointType);
            // Exactly a name: Enum.TryParse alone would take "Interface, Gateway" (flags) and " Interface".
            if (Error is null && (Array.IndexOf(EndpointTypeNames, typeText) < 0 || !Enum.TryParse(typeText, out type)))
                Error = RecordError.Invalid("endpointType", $"'{Clip(typeText)}' is not one of {EndpointTypeList}");
            var azIds = new List<string>();
            if (Given(f[RecordField.AzIds], "azIds"))
            {
                if (f[RecordField.AzIds].Kind != JsonTokenType.StartArray) Error = RecordError.Invalid("azIds", "must be an array of AZ IDs");
                else if (f.AzIdCount == 0) Error = RecordError.Invalid("azIds", "must list at least one AZ ID");
                else
                    foreach (var item in f.AzIds!)
                    {
                        var az = item.Kind == JsonTokenType.String ? Decode(item) : null;
                        if (az is null || !IsAzId(az))
                        {
                            Error = RecordError.Invalid("azIds", $"element {Clip(RawText(item))} is not an AZ ID like use1-az1");
                            break;
                        }
                        if (azIds.Contains(az)) { Error = RecordError.Invalid("azIds", $"lists '{az}' twice"); break; }
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

        public TrafficProcessed Traffic(string id, Instant at, ref RecordFields f)
        {
            var endpointId = EndpointId(f[RecordField.EndpointId]);
            var azId = AzId(f[RecordField.AzId], "azId");
            var source = AzId(f[RecordField.SourceAzId], "sourceAzId", required: false);
            long bytes = 0;
            var b = f[RecordField.Bytes];
            if (Given(b, "bytes"))
            {
                if (b.Kind != JsonTokenType.Number) Error = RecordError.Invalid("bytes", $"must be an integer number, not {Kind(b)}");
                else if (Bytes(_utf8.Slice(b.Start, b.Length)) is { } problem) Error = problem;
                else bytes = ReadBytes(_utf8.Slice(b.Start, b.Length));
            }
            return new TrafficProcessed(id, at, endpointId, azId, source.Length == 0 ? null : source, bytes);
        }

        static string Kind(in FieldValue v) => v.Kind switch
        {
            JsonTokenType.Number => "a number",
            JsonTokenType.String => "a string",
            JsonTokenType.True or JsonTokenType.False => "a boolean",
            JsonTokenType.StartArray => "an array",
            JsonTokenType.StartObject => "an object",
            _ => "null",
        };
    }

    /// <summary>
    /// Why a JSON number is not a count of bytes, with the semantics of JsonElement's TryGetDecimal
    /// and TryGetDouble (System.Buffers.Text.Utf8Parser over the whole token): too large for a
    /// decimal is above the maximum unless it is negative; a whole value written with a fraction or
    /// an exponent is not an integer literal. Null when it is one (-0 is one: the literal 0 with a sign).
    /// </summary>
    static RecordError? Bytes(ReadOnlySpan<byte> number)
    {
        if (IsSmallWholeNumber(number))
            return ReadBytes(number) > MaxBytes ? RecordError.Invalid("bytes", $"{Clip(Encoding.UTF8.GetString(number))} is above the maximum of 10^15") : null;
        var exact = Utf8Parser.TryParse(number, out decimal value, out var consumed) && consumed == number.Length;
        var sign = exact ? Math.Sign(value) : (Utf8Parser.TryParse(number, out double magnitude, out consumed) && consumed == number.Length ? Math.Sign(magnitude) : 1);
        if (sign < 0) return RecordError.Invalid("bytes", $"{Clip(Encoding.UTF8.GetString(number))} is negative");
        if (!exact || value > MaxBytes) return RecordError.Invalid("bytes", $"{Clip(Encoding.UTF8.GetString(number))} is above the maximum of 10^15");
        if (value != decimal.Truncate(value)) return RecordError.Invalid("bytes", $"{Clip(Encoding.UTF8.GetString(number))} is not a whole number of bytes");
        // Spec 3 (v1.2): a count is written as an integer literal; 1.0, 1e3 and -0.0 are not rounded into one.
        if (number.IndexOfAny("."u8) >= 0 || number.IndexOfAny("eE"u8) >= 0) return NotAnIntegerLiteral(number, value);
        return null;
    }

    internal static RecordError NotAnIntegerLiteral(ReadOnlySpan<byte> number, decimal value) =>
        RecordError.Invalid("bytes", $"{Clip(Encoding.UTF8.GetString(number))} is not an integer literal: a count of bytes has no fraction or exponent (write {decimal.Truncate(value).ToString(System.Globalization.CultureInfo.InvariantCulture)})");

    /// <summary>The count of a number <see cref="Bytes"/> found no fault with.</summary>
    static long ReadBytes(ReadOnlySpan<byte> number)
    {
        if (IsSmallWholeNumber(number))
        {
            long value = 0;
            foreach (var digit in number) value = value * 10 + (digit - '0');
            return value;
        }
        Utf8Parser.TryParse(number, out decimal exact, out _);
        return (long)exact;
    }

    // Plain digits (JSON has no leading zeros) of up to 16 digits: a whole number a long holds exactly, no decimal needed.
    static bool IsSmallWholeNumber(ReadOnlySpan<byte> number)
    {
        if (number.Length is 0 or > 16) return false;
        foreach (var b in number)
            if ((uint)(b - '0') > 9) return false;
        return true;
    }

    /// <summary>
    /// "uuuu-MM-ddTHH:mm:ssZ", the form producers send, read straight from the bytes; any other
    /// text (fractions, a year before 1, anything invalid) is left to <see cref="InstantPattern.ExtendedIso"/>,
    /// which accepts this form with the same value.
    /// </summary>
    static bool TryReadUtcSeconds(ReadOnlySpan<byte> s, out Instant at)
    {
        at = default;
        if (s.Length != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z') return false;
        if (!Digits(s, 0, 4, out var year) || !Digits(s, 5, 2, out var month) || !Digits(s, 8, 2, out var day)
            || !Digits(s, 11, 2, out var hour) || !Digits(s, 14, 2, out var minute) || !Digits(s, 17, 2, out var second))
            return false;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return false;
        at = NodaTime.Instant.FromUtc(year, month, day, hour, minute, second);
        return true;
    }

    static bool Digits(ReadOnlySpan<byte> s, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var d = s[i] - '0';
            if ((uint)d > 9) return false;
            value = value * 10 + d;
        }
        return true;
    }

    // The identifier patterns, checked by hand instead of by regex; each says which pattern it is,
    // anchored at the very end: an id ending in a newline is not the same id and is refused (the
    // regexes' `$` let one final "\n" through, so "vpce-…\n" was a second endpoint).

    /// <summary>^[0-9]{12}$</summary>
    static bool IsAccountId(string value)
    {
        var s = Anchored(value);
        return s.Length == 12 && AllIn(s, '0', '9');
    }

    /// <summary>^vpce-[0-9a-f]{8,17}$</summary>
    static bool IsEndpointId(string value) => IsPrefixedHex(Anchored(value), "vpce-");

    /// <summary>^vpc-[0-9a-f]{8,17}$</summary>
    static bool IsVpcId(string value) => IsPrefixedHex(Anchored(value), "vpc-");

    /// <summary>^[A-Z]{2}$</summary>
    static bool IsCountry(string value)
    {
        var s = Anchored(value);
        return s.Length == 2 && AllIn(s, 'A', 'Z');
    }

    /// <summary>^[a-z]{3,8}[0-9]+-az[0-9]+$</summary>
    static bool IsAzId(string value)
    {
        var s = Anchored(value);
        var letters = Run(s, 0, 'a', 'z');
        if (letters is < 3 or > 8) return false;
        var digits = Run(s, letters, '0', '9');
        if (digits == 0) return false;
        var rest = s[(letters + digits)..];
        return rest.StartsWith("-az") && rest.Length > 3 && AllIn(rest[3..], '0', '9');
    }

    /// <summary>^[a-z]{2,4}(-[a-z]+)+-[0-9]+$: two letters or more, one or more words, a number, all between dashes.</summary>
    static bool IsRegion(string value)
    {
        var s = Anchored(value);
        var first = Run(s, 0, 'a', 'z');
        if (first is < 2 or > 4) return false;
        var i = first;
        var words = 0;
        while (i < s.Length && s[i] == '-')
        {
            var word = Run(s, i + 1, 'a', 'z');
            if (word == 0) break;
            words++;
            i += 1 + word;
        }
        return words > 0 && i < s.Length && s[i] == '-' && i + 1 < s.Length && AllIn(s[(i + 1)..], '0', '9');
    }

    static ReadOnlySpan<char> Anchored(string s) => s;

    static bool IsPrefixedHex(ReadOnlySpan<char> s, string prefix)
    {
        if (!s.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var hex = s[prefix.Length..];
        if (hex.Length is < 8 or > 17) return false;
        foreach (var c in hex)
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f'))) return false;
        return true;
    }

    static bool AllIn(ReadOnlySpan<char> s, char low, char high)
    {
        foreach (var c in s)
            if (c < low || c > high) return false;
        return true;
    }

    static int Run(ReadOnlySpan<char> s, int start, char low, char high)
    {
        var i = start;
        while (i < s.Length && s[i] >= low && s[i] <= high) i++;
        return i - start;
    }

    /// <summary>Shortens a value quoted in an error so a megabyte-long field does not fill the dead-letter store.</summary>
    static string Clip(string s) => s.Length <= 64 ? s : s[..61] + "...";
}
