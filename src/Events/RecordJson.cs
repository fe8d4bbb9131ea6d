using System.Buffers;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using NodaTime;
using NodaTime.Serialization.SystemTextJson;

namespace Billing.Events;

/// <summary>
/// Writes records in the contract's JSON shape (camelCase, "type" first, instants as ISO-8601 UTC
/// with Z), and the content fingerprint used to tell a duplicate from a conflicting re-use of an id.
/// </summary>
public static class RecordJson
{
    /// <summary>The serializer options of the public contract; also used for HTTP answers.</summary>
    public static readonly JsonSerializerOptions Options = CreateOptions();

    public static JsonSerializerOptions CreateOptions()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        o.Converters.Add(new JsonStringEnumConverter());
        o.ConfigureForNodaTime(DateTimeZoneProviders.Tzdb);
        return o;
    }

    public static string TypeName(IUsageRecord record) => record switch
    {
        AccountOpened => "account.opened",
        AccountAddressChanged => "account.address-changed",
        EndpointCreated => "endpoint.created",
        EndpointAzAdded => "endpoint.az-added",
        EndpointAzRemoved => "endpoint.az-removed",
        EndpointAccepted => "endpoint.accepted",
        EndpointRejected => "endpoint.rejected",
        EndpointPayerChanged => "endpoint.payer-changed",
        EndpointDeleted => "endpoint.deleted",
        TrafficProcessed => "traffic.processed",
        _ => throw new ArgumentOutOfRangeException(nameof(record), record.GetType().Name),
    };

    /// <summary>The record as one line of the contract's JSON.</summary>
    public static string Serialize(IUsageRecord record) => System.Text.Encoding.UTF8.GetString(SerializeToUtf8(record));

    /// <summary>
    /// The record's contract JSON as UTF-8: the serializer's object with "type" put first. Written
    /// straight into bytes (no DOM): every accepted record is fingerprinted on the ingest path.
    /// </summary>
    public static byte[] SerializeToUtf8(IUsageRecord record)
    {
        if (record is TrafficProcessed traffic) return CanonicalTraffic(traffic).ToArray();
        var body = JsonSerializer.SerializeToUtf8Bytes(record, record.GetType(), Options);
        var type = System.Text.Encoding.UTF8.GetBytes(TypeName(record));
        // body is {"id":...}: every record has properties, so "type" goes in after the brace.
        var canonical = new byte[TypePrefix.Length + type.Length + 2 + body.Length - 1];
        var span = canonical.AsSpan();
        TypePrefix.CopyTo(span);
        type.AsSpan().CopyTo(span[TypePrefix.Length..]);
        span[TypePrefix.Length + type.Length] = (byte)'"';
        span[TypePrefix.Length + type.Length + 1] = (byte)',';
        body.AsSpan(1).CopyTo(span[(TypePrefix.Length + type.Length + 2)..]);
        return canonical;
    }

    static ReadOnlySpan<byte> TypePrefix => "{\"type\":\""u8;

    /// <summary>
    /// SHA-256 of the record's canonical JSON: two texts of the same record (other spacing, other
    /// key order) have the same fingerprint; any change of content gives another.
    /// </summary>
    public static byte[] Fingerprint(IUsageRecord record) =>
        record is TrafficProcessed traffic ? SHA256.HashData(CanonicalTraffic(traffic)) : SHA256.HashData(SerializeToUtf8(record));

    [ThreadStatic] static ArrayBufferWriter<byte>? _buffer;
    [ThreadStatic] static Utf8JsonWriter? _writer;

    /// <summary>
    /// A traffic record's canonical JSON written directly, the same bytes as the serializer's path
    /// (its properties in declaration order, no null source, the contract's escaping): traffic is
    /// nearly every record, and the serializer's generic path cost more than deciding one.
    /// Valid until the thread's next call.
    /// </summary>
    static ReadOnlySpan<byte> CanonicalTraffic(TrafficProcessed t)
    {
        var buffer = _buffer ??= new ArrayBufferWriter<byte>(512);
        buffer.ResetWrittenCount();
        var w = _writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = Options.Encoder });
        w.Reset(buffer);
        w.WriteStartObject();
        w.WriteString("type"u8, "traffic.processed"u8);
        w.WriteString("id"u8, t.Id);
        // NodaTime writes whole seconds as a UTC DateTime is written; anything finer through its pattern.
        var utc = t.At.InUtc();
        if (utc.NanosecondOfSecond == 0 && utc.Year >= 1) w.WriteString("at"u8, t.At.ToDateTimeUtc());
        else w.WriteString("at"u8, NodaTime.Text.InstantPattern.ExtendedIso.Format(t.At));
        w.WriteString("endpointId"u8, t.EndpointId);
        w.WriteString("azId"u8, t.AzId);
        if (t.SourceAzId is { } source) w.WriteString("sourceAzId"u8, source);
        w.WriteNumber("bytes"u8, t.Bytes);
        w.WriteEndObject();
        w.Flush();
        return buffer.WrittenSpan;
    }
}
