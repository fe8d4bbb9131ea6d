using System.Buffers;
using System.Text;
using System.Text.Json;
using JasperFx.Core;

namespace Billing.Metering.Ingestion;

/// <summary>
/// Which of the P ingest partitions decides a record (BILLING_INGEST_PARTITIONS). A record belongs
/// to its endpoint's partition; an account record to its account's; one with neither (it will be
/// rejected anyway) to its id's, or partition 0. Everything a decision reads about an endpoint is
/// then decided in one place, in order, while partitions run side by side on any node.
/// </summary>
public sealed class UsagePartitions
{
    public const int Default = 4;
    public const int Max = 64;

    readonly string[] _groupIds;

    public UsagePartitions(int count)
    {
        if (count is < 1 or > Max) throw new ArgumentOutOfRangeException(nameof(count), count, $"BILLING_INGEST_PARTITIONS must be 1-{Max}");
        Count = count;
        _groupIds = GroupIdsFor(count);
    }

    public int Count { get; }

    /// <summary>
    /// The partition of a routing key (an endpoint or account id): FNV-1a of its characters, mod P,
    /// the same on every node and every run for the same P (string.GetHashCode is not).
    /// </summary>
    public int Of(string key)
    {
        var hash = 2166136261u;
        foreach (var c in key) hash = (hash ^ c) * 16777619u;
        return (int)(hash % (uint)Count);
    }

    /// <summary>
    /// The message group id of a partition's batches. Wolverine puts a group on shard
    /// |hash(group id)| mod P and runs one group's messages one at a time, so each partition gets one
    /// constant group id that hashes onto its own shard: one shard per partition, one batch at a time.
    /// </summary>
    public string GroupId(int partition) => _groupIds[partition];

    /// <summary>The records split by partition, each keeping its arrival order.</summary>
    public IEnumerable<(int Partition, List<IncomingRecord> Records)> Split(IReadOnlyList<IncomingRecord> records)
    {
        if (records.Count == 0) yield break; // no batch at all: an empty one would be sent, handled and sent again
        if (Count == 1)
        {
            yield return (0, records as List<IncomingRecord> ?? records.ToList());
            yield break;
        }
        var groups = new List<IncomingRecord>?[Count];
        foreach (var record in records) (groups[Of(RoutingKey(record.Json))] ??= []).Add(record);
        for (var p = 0; p < Count; p++)
            if (groups[p] is { } group) yield return (p, group);
    }

    /// <summary>
    /// The endpoint id, else the account id, else the id, of a record's top-level JSON object: read
    /// without building the record (the partition decides it), and "" for text that is not such an object.
    /// </summary>
    public static string RoutingKey(string json)
    {
        // Called for every record on the way in: transcoded into a stack or pooled buffer, not a new array each time.
        var max = Encoding.UTF8.GetMaxByteCount(json.Length);
        byte[]? rented = max > 2048 ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buffer = rented is not null ? rented : stackalloc byte[max];
        try
        {
            return RoutingKey(buffer[..Encoding.UTF8.GetBytes(json, buffer)]);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    static string RoutingKey(ReadOnlySpan<byte> utf8)
    {
        string? account = null, id = null;
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return "";
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.ValueSpan;
                var isEndpoint = name.SequenceEqual("endpointId"u8);
                var isAccount = !isEndpoint && name.SequenceEqual("accountId"u8);
                var isId = !isEndpoint && !isAccount && name.SequenceEqual("id"u8);
                reader.Read();
                if (reader.TokenType == JsonTokenType.String && (isEndpoint || isAccount || isId))
                {
                    var value = reader.GetString();
                    if (isEndpoint) return value ?? "";
                    if (isAccount) account = value;
                    else id = value;
                }
                else reader.Skip();
            }
        }
        catch (JsonException)
        {
            // Not JSON: no key beyond what was read; the partition rejects it with its reason.
        }
        catch (InvalidOperationException)
        {
            // A string that is not valid text: the same.
        }
        return account ?? id ?? "";
    }

    static string[] GroupIdsFor(int count)
    {
        var ids = new string[count];
        var found = 0;
        for (var n = 0; found < count; n++)
        {
            var candidate = $"usage-partition-{n}";
            var shard = Math.Abs(candidate.GetDeterministicHashCode() % count);
            if (ids[shard] is null)
            {
                ids[shard] = candidate;
                found++;
            }
        }
        return ids;
    }
}
