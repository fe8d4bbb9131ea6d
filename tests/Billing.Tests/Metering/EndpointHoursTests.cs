using Billing.Metering;
using CsCheck;
using NodaTime;

namespace Billing.Tests.Metering;

public class EndpointHoursTests
{
    static readonly BillingPeriod October = new(2026, 10);

    static Instant T(string hhmm, int day = 1, int month = 10) =>
        Instant.FromUtc(2026, month, day, int.Parse(hhmm[..2]), int.Parse(hhmm[3..]));

    static Interval Stay(Instant start, Instant? end) => new(start, end);

    [Theory]
    [InlineData("10:50", "11:10", 2)] // spec: [10:50, 11:10) is 2 endpoint-hours
    [InlineData("10:00", "11:00", 1)] // spec: [10:00, 11:00) is 1
    [InlineData("10:00", "10:00", 0)] // spec: [10:00, 10:00) is 0
    [InlineData("10:59", "11:00", 1)]
    [InlineData("10:00", "10:01", 1)]
    [InlineData("10:30", "13:30", 4)]
    public void Spec_examples(string from, string to, int hours) =>
        Assert.Equal(hours, EndpointHours.Count([Stay(T(from), T(to))], October));

    [Fact]
    public void Leaving_and_re_entering_within_one_hour_bills_it_once()
    {
        var stays = new[] { Stay(T("10:05"), T("10:20")), Stay(T("10:40"), T("11:00")) };
        Assert.Equal(1, EndpointHours.Count(stays, October));
    }

    [Fact]
    public void Re_entering_in_a_later_hour_bills_both_hours_only()
    {
        var stays = new[] { Stay(T("10:05"), T("10:20")), Stay(T("12:40"), T("12:50")) };
        var hours = EndpointHours.BilledHours(stays, October);
        Assert.Equal([T("10:00"), T("12:00")], hours.Keys);
        Assert.Equal(T("12:40"), hours[T("12:00")]); // the first provisioned instant of the hour
    }

    [Fact]
    public void A_stay_open_at_the_period_end_is_billed_to_the_end_and_accrues_in_the_next_period()
    {
        var stays = new[] { Stay(Instant.FromUtc(2026, 10, 31, 22, 30), null) };
        Assert.Equal(2, EndpointHours.Count(stays, October)); // 22:00 and 23:00
        Assert.Equal(720, EndpointHours.Count(stays, October.Next)); // all of November (30 days)
    }

    [Fact]
    public void A_whole_month_of_31_days_is_744_hours()
    {
        Assert.Equal(744, EndpointHours.Count([Stay(Instant.FromUtc(2026, 9, 15, 0, 0), null)], October));
        Assert.Equal(744, October.Hours);
    }

    [Fact]
    public void An_hour_straddling_two_periods_does_not_exist_and_the_month_end_splits_cleanly()
    {
        var stays = new[] { Stay(Instant.FromUtc(2026, 10, 31, 23, 59), Instant.FromUtc(2026, 11, 1, 0, 1)) };
        Assert.Equal(1, EndpointHours.Count(stays, October));
        Assert.Equal(1, EndpointHours.Count(stays, October.Next));
    }

    [Fact]
    public void February_of_a_leap_year_has_696_hours() =>
        Assert.Equal(696, EndpointHours.Count([Stay(Instant.FromUtc(2028, 1, 1, 0, 0), null)], new BillingPeriod(2028, 2)));

    [Fact]
    public void Stays_outside_the_period_bill_nothing() =>
        Assert.Equal(0, EndpointHours.Count([Stay(Instant.FromUtc(2026, 9, 1, 0, 0), Instant.FromUtc(2026, 10, 1, 0, 0))], October));

    /// <summary>Brute force: walk every minute of the period and mark the hours in which the endpoint is ever provisioned.</summary>
    static int MinuteOracle(IReadOnlyList<(int Start, int End)> staysInMinutes, int periodMinutes)
    {
        var hours = new HashSet<int>();
        for (var m = 0; m < periodMinutes; m++)
            if (staysInMinutes.Any(s => s.Start <= m && m < s.End)) hours.Add(m / 60);
        return hours.Count;
    }

    [Fact]
    public void Property_hour_rule_matches_a_minute_by_minute_oracle()
    {
        // Stays on whole minutes within a 3-day window that crosses the September/October boundary.
        var origin = Instant.FromUtc(2026, 9, 30, 0, 0);
        const int windowMinutes = 3 * 24 * 60;
        var stay = Gen.Select(Gen.Int[-120, windowMinutes + 120], Gen.Int[0, 300], (s, len) => (Start: s, End: s + len));
        stay.Array[0, 6].Sample(stays =>
        {
            var intervals = stays.Select(s => new Interval(origin + Duration.FromMinutes(s.Start), origin + Duration.FromMinutes(s.End))).ToList();
            foreach (var period in new[] { new BillingPeriod(2026, 9), October })
            {
                var offset = (int)(period.Start - origin).TotalMinutes;
                var periodMinutes = period.Hours * 60;
                var local = stays.Select(s => (s.Start - offset, s.End - offset)).ToList();
                Assert.Equal(MinuteOracle(local, periodMinutes), EndpointHours.Count(intervals, period));
            }
        }, iter: 150);
    }
}
