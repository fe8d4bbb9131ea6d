using System.Text.Json;
using System.Text.Json.Serialization;
using Billing.Events;
using NodaTime;
using NodaTime.Text;

namespace Billing.Metering;

/// <summary>
/// Reads and writes a <see cref="TrafficProcessed"/> with the same JSON the default serializer gives,
/// only faster. Traffic events stored before the columnar form (<see cref="TrafficRecordedJson"/>)
/// hold a list of these, and a replay reads every one of them. Instants on whole seconds (what
/// producers send) take a direct path; anything else goes through NodaTime's own ISO pattern.
/// </summary>
public sealed class TrafficJson : JsonConverter<TrafficProcessed>
{
    public override TrafficProcessed Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("a traffic record must be a JSON object");
        string? id = null, endpointId = null, azId = null, sourceAzId = null;
        Instant? at = null;
        long? bytes = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (reader.TokenType != JsonTokenType.PropertyName) throw new JsonException("expected a property name");
            if (reader.ValueTextEquals("id"u8)) { reader.Read(); id = reader.GetString(); }
            else if (reader.ValueTextEquals("at"u8)) { reader.Read(); at = ReadInstant(ref reader); }
            else if (reader.ValueTextEquals("endpointId"u8)) { reader.Read(); endpointId = reader.GetString(); }
            else if (reader.ValueTextEquals("azId"u8)) { reader.Read(); azId = reader.GetString(); }
            else if (reader.ValueTextEquals("sourceAzId"u8)) { reader.Read(); sourceAzId = reader.TokenType == JsonTokenType.Null ? null : reader.GetString(); }
            else if (reader.ValueTextEquals("bytes"u8)) { reader.Read(); bytes = reader.GetInt64(); }
            else { reader.Read(); reader.Skip(); }
        }
        return new TrafficProcessed(
            id ?? throw Missing("id"), at ?? throw Missing("at"), endpointId ?? throw Missing("endpointId"),
            azId ?? throw Missing("azId"), sourceAzId, bytes ?? throw Missing("bytes"));
    }

    public override void Write(Utf8JsonWriter writer, TrafficProcessed value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("id"u8, value.Id);
        WriteInstant(writer, value.At);
        writer.WriteString("endpointId"u8, value.EndpointId);
        writer.WriteString("azId"u8, value.AzId);
        if (value.SourceAzId is { } source) writer.WriteString("sourceAzId"u8, source);
        else writer.WriteNull("sourceAzId"u8);
        writer.WriteNumber("bytes"u8, value.Bytes);
        writer.WriteEndObject();
    }

    static JsonException Missing(string field) => new($"a stored traffic record has no '{field}'");

    /// <summary>"uuuu-MM-ddTHH:mm:ssZ" directly; any other form through <see cref="InstantPattern.ExtendedIso"/>.</summary>
    internal static Instant ReadInstant(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException("'at' must be a string");
        var span = reader.HasValueSequence || reader.ValueIsEscaped ? default : reader.ValueSpan;
        if (span.Length == 20 && span[4] == '-' && span[7] == '-' && span[10] == 'T' && span[13] == ':' && span[16] == ':' && span[19] == 'Z'
            && Digits(span, 0, 4, out var year) && Digits(span, 5, 2, out var month) && Digits(span, 8, 2, out var day)
            && Digits(span, 11, 2, out var hour) && Digits(span, 14, 2, out var minute) && Digits(span, 17, 2, out var second)
            && year >= 1 && month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(year, month) && hour < 24 && minute < 60 && second < 60)
            return Instant.FromUtc(year, month, day, hour, minute, second);
        return InstantPattern.ExtendedIso.Parse(reader.GetString()!).GetValueOrThrow();
    }

    static bool Digits(ReadOnlySpan<byte> span, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var d = span[i] - (byte)'0';
            if ((uint)d > 9) return false;
            value = value * 10 + d;
        }
        return true;
    }

    /// <summary>Whole seconds as System.Text.Json writes a UTC DateTime ("uuuu-MM-ddTHH:mm:ssZ", as NodaTime does); anything finer through NodaTime.</summary>
    static void WriteInstant(Utf8JsonWriter writer, Instant at)
    {
        var utc = at.InUtc();
        if (utc.NanosecondOfSecond == 0 && utc.Year >= 1) writer.WriteString("at"u8, at.ToDateTimeUtc());
        else writer.WriteString("at"u8, InstantPattern.ExtendedIso.Format(at));
    }
}

/// <summary>
/// The stored form of a traffic batch: columns rather than one object per record, because a traffic
/// event holds up to a thousand records and is written once, read by every replay. Endpoint and AZ
/// ids are written once each and referred to by index; instants are Unix seconds, with a
/// nanosecond column only when some record has a fraction of a second:
/// <c>{"endpoints":[…],"azs":[…],"ids":[…],"at":[…],"endpoint":[…],"az":[…],"source":[…, -1 for none],"bytes":[…]}</c>.
/// About half the text of a list of objects, and no property names per record for PostgreSQL's
/// jsonb to parse. Events stored earlier as <c>{"records":[{…}]}</c> are still read.
/// </summary>
public sealed class TrafficRecordedJson : JsonConverter<TrafficRecorded>
{
    static readonly TrafficJson Record = new();

    public override void Write(Utf8JsonWriter writer, TrafficRecorded value, JsonSerializerOptions options)
    {
        var records = value.Records;
        var endpoints = new Dictionary<string, int>(StringComparer.Ordinal);
        var azs = new Dictionary<string, int>(StringComparer.Ordinal);
        int IndexOf(Dictionary<string, int> names, string name)
        {
            if (!names.TryGetValue(name, out var index)) names[name] = index = names.Count;
            return index;
        }
        var endpoint = new int[records.Count];
        var az = new int[records.Count];
        var source = new int[records.Count];
        var fractional = false;
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            endpoint[i] = IndexOf(endpoints, r.EndpointId);
            az[i] = IndexOf(azs, r.AzId);
            source[i] = r.SourceAzId is { } s ? IndexOf(azs, s) : -1;
            fractional |= NanosecondsOf(r.At) != 0;
        }

        writer.WriteStartObject();
        WriteNames(writer, "endpoints"u8, endpoints);
        WriteNames(writer, "azs"u8, azs);
        writer.WriteStartArray("ids"u8);
        foreach (var r in records) writer.WriteStringValue(r.Id);
        writer.WriteEndArray();
        writer.WriteStartArray("at"u8);
        foreach (var r in records) writer.WriteNumberValue(SecondsOf(r.At));
        writer.WriteEndArray();
        if (fractional)
        {
            writer.WriteStartArray("nanos"u8);
            foreach (var r in records) writer.WriteNumberValue(NanosecondsOf(r.At));
            writer.WriteEndArray();
        }
        WriteNumbers(writer, "endpoint"u8, endpoint);
        WriteNumbers(writer, "az"u8, az);
        WriteNumbers(writer, "source"u8, source);
        writer.WriteStartArray("bytes"u8);
        foreach (var r in records) writer.WriteNumberValue(r.Bytes);
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public override TrafficRecorded Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("a traffic event must be a JSON object");
        List<string> endpoints = [], azs = [], ids = [];
        List<long> at = [], bytes = [];
        List<int> nanos = [], endpoint = [], az = [], source = [];
        List<TrafficProcessed>? records = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            if (reader.TokenType != JsonTokenType.PropertyName) throw new JsonException("expected a property name");
            if (reader.ValueTextEquals("records"u8)) records = ReadRecords(ref reader, options);
            else if (reader.ValueTextEquals("endpoints"u8)) ReadStrings(ref reader, endpoints, shared: true);
            else if (reader.ValueTextEquals("azs"u8)) ReadStrings(ref reader, azs, shared: true);
            else if (reader.ValueTextEquals("ids"u8)) ReadStrings(ref reader, ids, shared: false);
            else if (reader.ValueTextEquals("at"u8)) ReadLongs(ref reader, at);
            else if (reader.ValueTextEquals("nanos"u8)) ReadInts(ref reader, nanos);
            else if (reader.ValueTextEquals("endpoint"u8)) ReadInts(ref reader, endpoint);
            else if (reader.ValueTextEquals("az"u8)) ReadInts(ref reader, az);
            else if (reader.ValueTextEquals("source"u8)) ReadInts(ref reader, source);
            else if (reader.ValueTextEquals("bytes"u8)) ReadLongs(ref reader, bytes);
            else { reader.Read(); reader.Skip(); }
        }
        if (records is not null) return new TrafficRecorded(records);

        var count = ids.Count;
        if (at.Count != count || endpoint.Count != count || az.Count != count || source.Count != count || bytes.Count != count || (nanos.Count != 0 && nanos.Count != count))
            throw new JsonException($"a stored traffic event's columns differ in length ({count} ids)");
        var columnar = new TrafficProcessed[count];
        for (var i = 0; i < count; i++)
        {
            var instant = Instant.FromUnixTimeSeconds(at[i]);
            if (nanos.Count > 0) instant += Duration.FromNanoseconds(nanos[i]);
            columnar[i] = new TrafficProcessed(ids[i], instant, endpoints[endpoint[i]], azs[az[i]], source[i] < 0 ? null : azs[source[i]], bytes[i]);
        }
        return new TrafficRecorded(columnar);
    }

    static long SecondsOf(Instant at) => Math.DivRem(at.ToUnixTimeTicks(), NodaConstants.TicksPerSecond, out var rem) - (rem < 0 ? 1 : 0);

    static int NanosecondsOf(Instant at) => (int)(at - Instant.FromUnixTimeSeconds(SecondsOf(at))).ToInt64Nanoseconds();

    static void WriteNames(Utf8JsonWriter writer, ReadOnlySpan<byte> name, Dictionary<string, int> names)
    {
        writer.WriteStartArray(name);
        foreach (var n in names.Keys) writer.WriteStringValue(n); // a Dictionary without removals enumerates in insertion order: index order
        writer.WriteEndArray();
    }

    static void WriteNumbers(Utf8JsonWriter writer, ReadOnlySpan<byte> name, int[] values)
    {
        writer.WriteStartArray(name);
        foreach (var v in values) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }

    static List<TrafficProcessed> ReadRecords(ref Utf8JsonReader reader, JsonSerializerOptions options)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("'records' must be an array");
        var list = new List<TrafficProcessed>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) list.Add(Record.Read(ref reader, typeof(TrafficProcessed), options));
        return list;
    }

    /// <summary>Endpoint and AZ ids are <paramref name="shared"/>: one string per id across events (a replay reads millions of records and a few thousand ids).</summary>
    static void ReadStrings(ref Utf8JsonReader reader, List<string> into, bool shared)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected an array of strings");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) into.Add(shared ? SharedIds.Of(reader.GetString()!) : reader.GetString()!);
    }

    static void ReadLongs(ref Utf8JsonReader reader, List<long> into)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected an array of numbers");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) into.Add(reader.GetInt64());
    }

    static void ReadInts(ref Utf8JsonReader reader, List<int> into)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("expected an array of numbers");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) into.Add(reader.GetInt32());
    }
}

/// <summary>One string instance per endpoint or AZ id read back from the store (bounded, so a store with very many endpoints does not grow it forever).</summary>
static class SharedIds
{
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Known = new(StringComparer.Ordinal);

    public static string Of(string id) => Known.TryGetValue(id, out var known) ? known : Known.Count < 100_000 ? Known.GetOrAdd(id, id) : id;
}
