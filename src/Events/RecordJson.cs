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
    public static string Serialize(IUsageRecord record)
    {
        var body = JsonSerializer.SerializeToNode(record, record.GetType(), Options)!.AsObject();
        var ordered = new System.Text.Json.Nodes.JsonObject { ["type"] = TypeName(record) };
        foreach (var (key, value) in body.ToList())
        {
            body.Remove(key);
            ordered[key] = value;
        }
        return ordered.ToJsonString(Options);
    }

    /// <summary>
    /// SHA-256 of the record's canonical JSON: two texts of the same record (other spacing, other
    /// key order) have the same fingerprint; any change of content gives another.
    /// </summary>
    public static byte[] Fingerprint(IUsageRecord record) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Serialize(record)));
}
