using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Host.Features;
using Billing.Metering;
using NodaTime;
using Xunit;

namespace Billing.Tests.RecordContract;

/// <summary>
/// The canonical JSON (and so every stored fingerprint) is the same bytes as the first, DOM-based
/// writer gave: records accepted before the faster writer stay duplicates, not conflicts.
/// </summary>
public sealed class CanonicalJsonTests
{
    /// <summary>The original writer: serialize to a DOM, put "type" first, write it out.</summary>
    static string DomSerialize(IUsageRecord record)
    {
        var body = JsonSerializer.SerializeToNode(record, record.GetType(), RecordJson.Options)!.AsObject();
        var ordered = new JsonObject { ["type"] = RecordJson.TypeName(record) };
        foreach (var (key, value) in body.ToList())
        {
            body.Remove(key);
            ordered[key] = value;
        }
        return ordered.ToJsonString(RecordJson.Options);
    }

    [Fact]
    public void Every_record_of_a_synthetic_month_has_the_same_canonical_text_and_fingerprint_as_before()
    {
        var records = new SyntheticUsage(new BillingPeriod(2026, 10), accounts: 12, seed: 7, hoursBetweenTraffic: 24).Records().ToList();
        Assert.True(records.Count > 1_000);
        Assert.True(records.Select(RecordJson.TypeName).Distinct().Count() >= 8);
        foreach (var record in records)
        {
            var before = DomSerialize(record);
            Assert.Equal(before, RecordJson.Serialize(record));
            Assert.Equal(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(before)), RecordJson.Fingerprint(record));
        }
    }

    [Fact]
    public void Records_with_escapes_optional_fields_and_odd_instants_keep_their_canonical_text()
    {
        IUsageRecord[] records =
        [
            new AccountOpened("a\"1", Instant.FromUtc(2026, 10, 1, 0, 0) + Duration.FromNanoseconds(1), "111122223333", "株式会社サンプル \\ <b>&</b>",
                new BillingAddress("Hauptstraße 5", null, "München", null, "DE")),
            new AccountAddressChanged("a-2", Instant.FromUtc(2026, 10, 1, 0, 0), "111122223333", new BillingAddress("l1", "l2", "c", "p", "JP")),
            new EndpointRejected("e-1", Instant.FromUtc(2026, 10, 2, 3, 4, 5), "vpce-1"),
            new TrafficProcessed("t\u00e9-1", Instant.FromUtc(2026, 10, 2, 3, 4, 5) + Duration.FromMilliseconds(250), "vpce-1", "use1-az1", null, 1_000_000_000_000_000),
        ];
        foreach (var record in records) Assert.Equal(DomSerialize(record), RecordJson.Serialize(record));
    }
}
