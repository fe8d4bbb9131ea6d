using Billing.Events;
using Billing.Metering;
using NodaTime;
using Xunit;

namespace Billing.Tests.Metering;

public sealed class TrafficHoursTests
{
    [Fact]
    public void Records_add_up_per_endpoint_clock_hour_az_and_source_and_are_counted()
    {
        var at = Instant.FromUtc(2026, 10, 5, 13, 20);
        var hours = TrafficHours.Sum([
            new TrafficProcessed("a", at, "vpce-1", "use1-az1", "use1-az2", 5),
            new TrafficProcessed("b", at + Duration.FromMinutes(39), "vpce-1", "use1-az1", "use1-az2", 7),
            new TrafficProcessed("c", at, "vpce-1", "use1-az1", null, 1),
            new TrafficProcessed("d", at + Duration.FromMinutes(40), "vpce-1", "use1-az1", null, 2),
            new TrafficProcessed("e", at, "vpce-2", "use1-az1", null, 1_000_000_000_000_000),
            new TrafficProcessed("f", at, "vpce-2", "use1-az1", null, 1_000_000_000_000_000),
        ]);
        var thirteen = Instant.FromUtc(2026, 10, 5, 13, 0);
        Assert.Equal(
            [
                new TrafficHour("vpce-1", thirteen, "use1-az1", "use1-az2", 12, Records: 2),
                new TrafficHour("vpce-1", thirteen, "use1-az1", null, 1),
                new TrafficHour("vpce-1", thirteen + Duration.FromHours(1), "use1-az1", null, 2),
                new TrafficHour("vpce-2", thirteen, "use1-az1", null, 2_000_000_000_000_000m, Records: 2),
            ],
            hours.OrderBy(h => h.EndpointId).ThenBy(h => h.Hour).ThenBy(h => h.SourceAzId is null).ToList());
    }

    [Fact]
    public void An_hour_becomes_the_bucket_of_its_index_in_the_period()
    {
        var october = new BillingPeriod(2026, 10);
        var bucket = TrafficHours.InPeriod(new TrafficHour("vpce-1", Instant.FromUtc(2026, 10, 5, 13, 0), "use1-az1", null, 3), october);
        Assert.Equal(new TrafficBucket(4 * 24 + 13, "use1-az1", null, 3), bucket);
    }

    [Fact]
    public void Hours_taken_off_are_the_same_hours_in_negative_bytes_and_records()
    {
        var hour = new TrafficHour("vpce-1", Instant.FromUtc(2026, 10, 5, 13, 0), "use1-az1", "use1-az2", 12, 2);
        Assert.Equal([hour with { Bytes = -12, Records = -2 }], TrafficHours.Negated([hour]));
    }

    [Theory]
    [InlineData("traffic/0190a3b2-0000-7000-8000-000000000001", "0190a3b2-0000-7000-8000-000000000001")]
    public void A_traffic_stream_key_names_its_batch(string key, string batch)
    {
        Assert.Equal(Guid.Parse(batch), TrafficStreams.BatchOf(key));
        Assert.Equal(key, TrafficStreams.KeyOf(Guid.Parse(batch)));
        Assert.Throws<ArgumentException>(() => TrafficStreams.BatchOf("vpce-0a1b2c3d4e5f60718"));
    }
}
