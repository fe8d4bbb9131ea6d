using Billing.Metering;
using NodaTime;

namespace Billing.Tests.Metering;

public class BillingPeriodTests
{
    [Fact]
    public void A_period_is_a_utc_calendar_month()
    {
        var p = BillingPeriod.Parse("2026-12");
        Assert.Equal(Instant.FromUtc(2026, 12, 1, 0, 0), p.Start);
        Assert.Equal(Instant.FromUtc(2027, 1, 1, 0, 0), p.End);
        Assert.Equal("2027-01", p.Next.ToString());
        Assert.Equal("2026-11", p.Previous.ToString());
        Assert.Equal(p, BillingPeriod.Of(Instant.FromUtc(2026, 12, 31, 23, 59, 59)));
        Assert.Equal(new BillingPeriod(2027, 1), BillingPeriod.Of(Instant.FromUtc(2027, 1, 1, 0, 0)));
    }

    [Theory]
    [InlineData("2026-13")]
    [InlineData("2026-1")]
    [InlineData("26-10")]
    [InlineData("2026/10")]
    [InlineData("")]
    public void Bad_periods_are_refused(string text) => Assert.False(BillingPeriod.TryParse(text, out _));

    [Theory]
    [InlineData(1_073_741_824, "1.000000000")]
    [InlineData(13_421_772_800, "12.500000000")]
    [InlineData(1, "0.000000001")] // 9.31e-10 rounds up to 1e-9
    [InlineData(0, "0.000000000")]
    [InlineData(536, "0.000000499")] // 4.9919e-7 GB
    public void Gigabytes_are_bytes_over_2_to_the_30_rounded_to_9_places(long bytes, string gb) =>
        Assert.Equal(gb, Gigabytes.Format(Gigabytes.FromBytes(bytes)));
}
