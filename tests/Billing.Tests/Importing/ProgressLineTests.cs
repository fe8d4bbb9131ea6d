using Billing.Host;

namespace Billing.Tests.Importing;

/// <summary>The progress of `billing import` / `replay` / `close` (the plain line off a terminal, the live bar's columns on one): a rate only over an interval that means something.</summary>
public class ProgressLineTests
{
    [Fact]
    public void No_rate_is_shown_a_millisecond_after_the_start()
    {
        Assert.Null(CliProgress.Rate(8_617, TimeSpan.FromSeconds(0.001)));
        Assert.Equal("deciding: 8,617/100,000   8.6%            — 00:00", CliProgress.FormatLine("deciding", 8_617, 100_000, TimeSpan.FromSeconds(0.001)));
    }

    [Fact]
    public void No_rate_is_shown_just_under_a_second_and_one_is_from_a_second_on()
    {
        Assert.Null(CliProgress.Rate(900, TimeSpan.FromMilliseconds(999)));
        Assert.Equal("1,000/s", CliProgress.Rate(1_000, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void After_ten_seconds_100000_done_is_10000_per_second()
    {
        Assert.Equal("10,000/s", CliProgress.Rate(100_000, TimeSpan.FromSeconds(10)));
        Assert.Equal("publishing: 100,000/200,000  50.0%     10,000/s 00:10 batch 100",
            CliProgress.FormatLine("publishing", 100_000, 200_000, TimeSpan.FromSeconds(10), "batch 100"));
    }

    [Fact]
    public void Work_done_before_the_start_counts_in_the_total_but_not_in_the_rate()
    {
        // 8,617 records were decided while publishing; 50,000 more in the 10 s of waiting.
        Assert.Equal("deciding: 58,617/100,000  58.6%      5,000/s 00:10",
            CliProgress.FormatLine("deciding", 58_617, 100_000, TimeSpan.FromSeconds(10), doneAtStart: 8_617));
    }
}
