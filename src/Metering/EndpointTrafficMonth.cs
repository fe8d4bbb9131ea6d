using Billing.Events;

namespace Billing.Metering;

/// <summary>
/// Bytes processed by one endpoint in one billing period, summed per clock hour, AZ and source
/// AZ. Hourly sums keep the document small however many traffic records arrive, and are enough
/// to charge each hour's bytes to its payer; an hour in which the payer changes part-way is
/// charged from the raw records instead (see <see cref="UsageCalculator"/>).
/// Id: "{endpointId}/{YYYY-MM}". Built by <see cref="EndpointTrafficProjection"/>.
/// </summary>
public sealed class EndpointTrafficMonth
{
    public string Id { get; set; } = "";
    public string EndpointId { get; set; } = "";
    public string Period { get; set; } = "";

    /// <summary>Bytes by key "{hourIndex}|{azId}|{sourceAzId}" (source empty when absent).</summary>
    public Dictionary<string, decimal> Bytes { get; set; } = [];

    public static string IdOf(string endpointId, BillingPeriod period) => $"{endpointId}/{period}";

    public static IEnumerable<string> IdsOf(TrafficRecorded e) =>
        e.Records.Select(r => BillingPeriod.Of(r.At)).Distinct().Select(p => IdOf(e.EndpointId, p));

    /// <summary>Adds the records of <paramref name="e"/> that fall in this document's period.</summary>
    public void Add(TrafficRecorded e)
    {
        if (Id.Length == 0) throw new InvalidOperationException("the document's id must be set before traffic is added");
        var slash = Id.LastIndexOf('/');
        EndpointId = Id[..slash];
        Period = Id[(slash + 1)..];
        var period = BillingPeriod.Parse(Period);
        foreach (var r in e.Records)
        {
            if (!period.Contains(r.At)) continue;
            var key = Key(period.HourIndex(r.At), r.AzId, r.SourceAzId);
            Bytes[key] = Bytes.GetValueOrDefault(key) + r.Bytes;
        }
    }

    public static string Key(int hour, string azId, string? sourceAzId) => $"{hour}|{azId}|{sourceAzId}";

    public IEnumerable<TrafficBucket> Buckets() => Bytes.Select(kv =>
    {
        var parts = kv.Key.Split('|');
        return new TrafficBucket(int.Parse(parts[0]), parts[1], parts[2].Length == 0 ? null : parts[2], kv.Value);
    });
}

public sealed record TrafficBucket(int Hour, string AzId, string? SourceAzId, decimal Bytes);
