using Billing.Events;
using Billing.Metering;
using NodaTime;
using Xunit;

namespace Billing.Tests.Rules;

public sealed class EndpointTrafficDayTests
{
    [Theory]
    [InlineData("vpce-0a1b2c3d4e5f60718", 2026, 10, 5, "vpce-0a1b2c3d4e5f60718/2026-10-05")]
    [InlineData("e", 999, 1, 31, "e/0999-01-31")]
    [InlineData("vpce-1", 2024, 12, 1, "vpce-1/2024-12-01")]
    public void A_document_id_is_the_endpoint_and_the_iso_day(string endpoint, int year, int month, int day, string expected) =>
        Assert.Equal(expected, EndpointTrafficDay.IdOf(endpoint, new LocalDate(year, month, day)));

    [Fact]
    public void Records_add_up_per_hour_az_and_source_and_the_batches_are_listed_once()
    {
        var at = Instant.FromUtc(2026, 10, 5, 13, 20);
        var day = new EndpointTrafficDay { Id = "vpce-1/2026-10-05" };
        day.Add([new TrafficProcessed("a", at, "vpce-1", "use1-az1", "use1-az2", 5), new TrafficProcessed("b", at + Duration.FromMinutes(30), "vpce-1", "use1-az1", "use1-az2", 7)], batch: 11);
        day.Add([new TrafficProcessed("c", at, "vpce-1", "use1-az1", null, 1)], batch: 11);
        day.Add([new TrafficProcessed("d", at + Duration.FromHours(1), "vpce-1", "use1-az1", null, 2)], batch: 12);

        Assert.Equal("vpce-1", day.EndpointId);
        Assert.Equal("2026-10", day.Period);
        Assert.Equal([11L, 12L], day.Batches);
        var hour = 4 * 24 + 13;
        Assert.Equal(
            [new TrafficBucket(hour, "use1-az1", "use1-az2", 12), new TrafficBucket(hour, "use1-az1", null, 1), new TrafficBucket(hour + 1, "use1-az1", null, 2)],
            day.Buckets().ToList());
        Assert.Throws<ArgumentException>(() => day.Add([new TrafficProcessed("e", at + Duration.FromDays(1), "vpce-1", "use1-az1", null, 1)], batch: 13));
    }
}
