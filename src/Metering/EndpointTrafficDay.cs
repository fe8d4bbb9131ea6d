using Billing.Events;
using NodaTime;

namespace Billing.Metering;

/// <summary>
/// Bytes processed by one endpoint on one UTC day, summed per clock hour, AZ and source AZ.
/// Hourly sums keep the document small however many traffic records arrive, and are enough to
/// charge each hour's bytes to its payer (an hour in which the payer changes part-way is charged
/// from the raw records instead, see <see cref="UsageCalculator"/>). A document per day rather
/// than per month keeps each projection write small: the async daemon rewrites a whole document
/// whenever traffic is added to it. Id: "{endpointId}/{yyyy-MM-dd}".
/// Built by <see cref="EndpointTrafficProjection"/>.
/// </summary>
public sealed class EndpointTrafficDay
{
    public string Id { get; set; } = "";
    public string EndpointId { get; set; } = "";
    public string Period { get; set; } = "";

    /// <summary>Bytes by key "{hour of the period}|{azId}|{sourceAzId}" (source empty when absent).</summary>
    public Dictionary<string, decimal> Bytes { get; set; } = [];

    /// <summary>
    /// The traffic batches (sequence numbers of their <see cref="TrafficRecorded"/> events) that hold
    /// this document's records: an hour whose payer changed part-way reads just these, see
    /// <see cref="RawTraffic"/>.
    /// </summary>
    public List<long> Batches { get; set; } = [];

    /// <summary>The day of <see cref="Id"/>, read from it once per loaded document.</summary>
    LocalDate? _day;

    /// <summary>"{endpointId}/yyyy-MM-dd"; formatted directly (not through NodaTime's pattern): every traffic record is mapped to its document.</summary>
    public static string IdOf(string endpointId, LocalDate day) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{endpointId}/{day.Year:D4}-{day.Month:D2}-{day.Day:D2}");

    public static string IdOf(TrafficProcessed record) => IdOf(record.EndpointId, record.At.InUtc().Date);

    /// <summary>A batch's records grouped by the document each one belongs to.</summary>
    public static ILookup<string, TrafficProcessed> ByDocument(TrafficRecorded e) => e.Records.ToLookup(IdOf);

    /// <summary>The ids of an endpoint's documents for every day of a period.</summary>
    public static IEnumerable<string> IdsOf(string endpointId, BillingPeriod period)
    {
        for (var day = period.Start.InUtc().Date; day < period.End.InUtc().Date; day = day.PlusDays(1))
            yield return IdOf(endpointId, day);
    }

    /// <summary>Adds records of this document's endpoint and day (see <see cref="ByDocument"/>), from the batch stored as event <paramref name="batch"/>.</summary>
    public void Add(IEnumerable<TrafficProcessed> records, long batch)
    {
        if (!Batches.Contains(batch)) Batches.Add(batch);
        if (_day is not { } day)
        {
            var slash = Id.LastIndexOf('/');
            if (slash < 0) throw new InvalidOperationException("the document's id must be set before traffic is added");
            day = NodaTime.Text.LocalDatePattern.Iso.Parse(Id[(slash + 1)..]).Value;
            EndpointId = Id[..slash];
            Period = new BillingPeriod(day.Year, day.Month).ToString();
            _day = day;
        }
        var period = new BillingPeriod(day.Year, day.Month);
        foreach (var r in records)
        {
            if (r.EndpointId != EndpointId || r.At.InUtc().Date != day)
                throw new ArgumentException($"record {r.Id} belongs to {IdOf(r)}, not {Id}", nameof(records));
            var key = $"{period.HourIndex(r.At)}|{r.AzId}|{r.SourceAzId}";
            Bytes[key] = Bytes.GetValueOrDefault(key) + r.Bytes;
        }
    }

    public IEnumerable<TrafficBucket> Buckets()
    {
        foreach (var (key, bytes) in Bytes)
        {
            // "{hour}|{azId}|{sourceAzId}": parsed without splitting, the AZ ids shared (a period has
            // hundreds of thousands of buckets and a handful of AZs).
            var span = key.AsSpan();
            var first = span.IndexOf('|');
            var second = first + 1 + span[(first + 1)..].IndexOf('|');
            if (first < 0 || second <= first) throw new FormatException($"traffic key '{key}' of {Id} is not hour|az|source");
            var source = span[(second + 1)..];
            yield return new TrafficBucket(int.Parse(span[..first], System.Globalization.CultureInfo.InvariantCulture),
                AzIds.Of(span[(first + 1)..second]), source.IsEmpty ? null : AzIds.Of(source), bytes);
        }
    }
}

/// <summary>Bytes of one clock hour (index within the period) through one AZ from one source AZ.</summary>
public readonly record struct TrafficBucket(int Hour, string AzId, string? SourceAzId, decimal Bytes);

/// <summary>One string instance per AZ id read back from traffic keys.</summary>
static class AzIds
{
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Known = new(StringComparer.Ordinal);
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> BySpan =
        Known.GetAlternateLookup<ReadOnlySpan<char>>();

    public static string Of(ReadOnlySpan<char> az)
    {
        if (BySpan.TryGetValue(az, out var known)) return known;
        var text = az.ToString();
        return Known.Count < 10_000 ? Known.GetOrAdd(text, text) : text;
    }
}
