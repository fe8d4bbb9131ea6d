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
    public static byte[] Fingerprint(IUsageRecord record) => SHA256.HashData(SerializeToUtf8(record));
}
