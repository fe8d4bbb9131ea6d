using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Billing.Events;

/// <summary>
/// The fields of a record as the single pass over its UTF-8 text found them, so that validation
/// reads them without the text being parsed again. Values point into the text, which outlives
/// validation; only escaped strings (and names of keys the contract does not know) are decoded
/// during the pass, since that is where an unpaired surrogate escape or a repeated key shows.
/// </summary>
internal struct RecordFields
{
    public bool IsObject;
    public RecordValues Record;
    public AddressValues Address;

    /// <summary>The elements of <c>azIds</c> when it is an array; null while it has none.</summary>
    public List<FieldValue>? AzIds;

    [UnscopedRef] public ref FieldValue this[RecordField field] => ref Record[(int)field];
    [UnscopedRef] public ref FieldValue this[AddressField field] => ref Address[(int)field];

    public readonly int AzIdCount => AzIds?.Count ?? 0;

    static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 16 };

    /// <summary>
    /// Reads the whole text once and answers what System.Text.Json accepts but a record must not
    /// contain: a key given twice at any depth (which value counts would be a guess) or a string
    /// with an unpaired UTF-16 surrogate escape (not text). Malformed JSON throws a
    /// <see cref="JsonException"/>, wherever it is: the text is read to its end even after a problem,
    /// because a record that is not JSON is refused as such before anything else is said about it.
    /// </summary>
    public static RecordError? Read(ReadOnlySpan<byte> utf8, ref RecordFields fields)
    {
        var reader = new Utf8JsonReader(utf8, ReaderOptions);
        reader.Read();
        RecordError? problem = null;
        if (reader.TokenType == JsonTokenType.StartObject)
        {
            fields.IsObject = true;
            problem = ReadObject(ref reader, "", isRecord: true, ref fields);
        }
        while (reader.Read()) { }
        return problem;
    }

    /// <summary>
    /// The record object or its billing address: keys the contract knows are kept for validation,
    /// any other key is only checked. Problems are answered in the order of the text, a key before its value.
    /// </summary>
    static RecordError? ReadObject(ref Utf8JsonReader reader, string path, bool isRecord, ref RecordFields fields)
    {
        Span<FieldValue> values = isRecord ? fields.Record : fields.Address;
        HashSet<string>? otherKeys = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string? unescapedName = null;
            if (reader.ValueIsEscaped && !TryGetString(ref reader, out unescapedName)) return KeyWithUnpairedSurrogate(path);
            var index = unescapedName is null ? KnownIndex(reader.ValueSpan, isRecord) : KnownIndex(unescapedName, isRecord);
            if (index < 0)
            {
                var name = unescapedName ?? Encoding.UTF8.GetString(reader.ValueSpan);
                if (!(otherKeys ??= new HashSet<string>(StringComparer.Ordinal)).Add(name)) return RepeatedKey(path + name);
                reader.Read();
                if (CheckValue(ref reader, path + name + ".") is { } inner) return inner;
                continue;
            }
            var knownName = isRecord ? RecordFieldNames[index] : AddressFieldNames[index];
            ref var value = ref values[index];
            if (value.Kind != JsonTokenType.None) return RepeatedKey(path + knownName);
            reader.Read();
            value.Kind = reader.TokenType;
            switch (reader.TokenType)
            {
                case JsonTokenType.String:
                    value.Start = (int)reader.TokenStartIndex + 1; // after the opening quote
                    value.Length = reader.ValueSpan.Length;
                    if (reader.ValueIsEscaped && !TryGetString(ref reader, out value.Unescaped)) return StringWithUnpairedSurrogate(path + knownName);
                    break;
                case JsonTokenType.StartObject when isRecord && index == (int)RecordField.BillingAddress:
                    if (ReadObject(ref reader, path + knownName + ".", isRecord: false, ref fields) is { } inAddress) return inAddress;
                    break;
                case JsonTokenType.StartArray when isRecord && index == (int)RecordField.AzIds:
                    if (ReadAzIds(ref reader, ref fields) is { } inAzIds) return inAzIds;
                    break;
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    if (CheckValue(ref reader, path + knownName + ".") is { } inValue) return inValue;
                    break;
                default: // a number or a literal
                    value.Start = (int)reader.TokenStartIndex;
                    value.Length = reader.ValueSpan.Length;
                    break;
            }
        }
        return null;
    }

    /// <summary>Keeps each element of <c>azIds</c>, with the extent of a nested value, whose raw text an error quotes.</summary>
    static RecordError? ReadAzIds(ref Utf8JsonReader reader, ref RecordFields fields)
    {
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var element = new FieldValue { Kind = reader.TokenType, Start = (int)reader.TokenStartIndex };
            switch (reader.TokenType)
            {
                case JsonTokenType.String:
                    element.Start++;
                    element.Length = reader.ValueSpan.Length;
                    if (reader.ValueIsEscaped && !TryGetString(ref reader, out element.Unescaped)) return StringWithUnpairedSurrogate("azIds");
                    break;
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    if (CheckValue(ref reader, "azIds.") is { } inner) return inner;
                    element.Length = (int)reader.TokenStartIndex + 1 - element.Start; // up to the closing bracket
                    break;
                default:
                    element.Length = reader.ValueSpan.Length;
                    break;
            }
            (fields.AzIds ??= []).Add(element);
        }
        return null;
    }

    /// <summary>Checks a value the contract does not read (or not as such): nothing is kept.</summary>
    static RecordError? CheckValue(ref Utf8JsonReader reader, string path)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.ValueIsEscaped && !TryGetString(ref reader, out _) ? StringWithUnpairedSurrogate(path) : null;
            case JsonTokenType.StartArray:
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    if (CheckValue(ref reader, path) is { } inner) return inner;
                return null;
            case JsonTokenType.StartObject:
                HashSet<string>? keys = null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (!TryGetString(ref reader, out var name)) return KeyWithUnpairedSurrogate(path);
                    if (!(keys ??= new HashSet<string>(StringComparer.Ordinal)).Add(name!)) return RepeatedKey(path + name);
                    reader.Read();
                    if (CheckValue(ref reader, path + name + ".") is { } inner) return inner;
                }
                return null;
            default:
                return null;
        }
    }

    /// <summary>Unescapes the current string; false when an escape is an unpaired UTF-16 surrogate, which System.Text.Json refuses to decode.</summary>
    static bool TryGetString(ref Utf8JsonReader reader, out string? text)
    {
        try
        {
            text = reader.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            text = null;
            return false;
        }
    }

    // The messages of the DOM walk this pass replaces; `path` is the dotted path of the enclosing
    // object with a dot at its end ("", "billingAddress.") and a string's field is its path without the dots.
    static RecordError KeyWithUnpairedSurrogate(string path) => RecordError.MalformedJson($"a key under '{path}' has an unpaired UTF-16 surrogate escape");
    static RecordError RepeatedKey(string dottedName) => RecordError.MalformedJson($"key '{dottedName}' appears more than once");
    static RecordError StringWithUnpairedSurrogate(string path) => RecordError.Invalid(path.TrimEnd('.'), "contains an unpaired UTF-16 surrogate escape (not valid text)");

    // Keys the contract knows, in the order of RecordField and AddressField, traffic's first (the most frequent).
    internal static readonly string[] RecordFieldNames =
    [
        "type", "id", "at", "endpointId", "azId", "sourceAzId", "bytes", "accountId", "name", "billingAddress",
        "region", "vpcId", "serviceName", "endpointType", "azIds", "payerAccountId",
    ];

    internal static readonly string[] AddressFieldNames = ["line1", "line2", "city", "postalCode", "country"];

    static readonly byte[][] RecordFieldUtf8 = [.. RecordFieldNames.Select(Encoding.UTF8.GetBytes)];
    static readonly byte[][] AddressFieldUtf8 = [.. AddressFieldNames.Select(Encoding.UTF8.GetBytes)];

    static int KnownIndex(ReadOnlySpan<byte> name, bool isRecord)
    {
        var known = isRecord ? RecordFieldUtf8 : AddressFieldUtf8;
        for (var i = 0; i < known.Length; i++)
            if (name.SequenceEqual(known[i])) return i;
        return -1;
    }

    static int KnownIndex(string name, bool isRecord) => Array.IndexOf(isRecord ? RecordFieldNames : AddressFieldNames, name);
}

/// <summary>
/// One JSON value as the pass saw it. <see cref="Kind"/> is <see cref="JsonTokenType.None"/> when
/// the key is absent; <see cref="Start"/> and <see cref="Length"/> locate a string's content (without
/// quotes, escapes as written), a number's or literal's text, or a nested element from bracket to bracket.
/// </summary>
internal struct FieldValue
{
    public JsonTokenType Kind;
    public int Start;
    public int Length;
    public string? Unescaped;

    /// <summary>Absent and null are the same to the contract: a missing field.</summary>
    public readonly bool IsGiven => Kind is not (JsonTokenType.None or JsonTokenType.Null);
}

internal enum RecordField
{
    Type, Id, At, EndpointId, AzId, SourceAzId, Bytes, AccountId, Name, BillingAddress,
    Region, VpcId, ServiceName, EndpointType, AzIds, PayerAccountId,
}

internal enum AddressField { Line1, Line2, City, PostalCode, Country }

[InlineArray(16)]
internal struct RecordValues
{
    FieldValue _first;
}

[InlineArray(5)]
internal struct AddressValues
{
    FieldValue _first;
}
