using Billing.Host.Features;
using Billing.Invoicing.Closing;
using Billing.Metering;
using NodaTime;
using Npgsql;

namespace Billing.Tests.Closing;

/// <summary>The tick's cron, the retries' backoff and which due periods are overdue: pure, without a database.</summary>
public sealed class CloseScheduleTests
{
    [Theory]
    [InlineData(600, "*/10 * * * *")]
    [InlineData(1, "*/1 * * * * *")]
    [InlineData(2, "*/2 * * * * *")]
    [InlineData(30, "*/30 * * * * *")]
    [InlineData(60, "*/1 * * * *")]
    [InlineData(1800, "*/30 * * * *")]
    [InlineData(3600, "0 */1 * * *")]
    [InlineData(21600, "0 */6 * * *")]
    [InlineData(86400, "0 0 * * *")]
    public void The_tick_interval_becomes_a_cron_expression_and_the_default_stays_every_ten_minutes(int seconds, string cron) =>
        Assert.Equal(cron, CloseSchedule.Cron(seconds));

    [Theory]
    [InlineData(0)]
    [InlineData(45)]
    [InlineData(90)]
    [InlineData(420)]
    [InlineData(5400)]
    [InlineData(172800)]
    public void An_interval_that_does_not_divide_a_minute_an_hour_or_a_day_is_refused_naming_the_setting(int seconds)
    {
        var e = Assert.Throws<InvalidOperationException>(() => CloseSchedule.Cron(seconds));
        Assert.Equal($"BILLING_CLOSE_TICK_SECONDS={seconds} cannot be a schedule: it must divide a minute, an hour or a day evenly (1-30 s, 1-30 min, 1-24 h in seconds, e.g. 600)", e.Message);
    }

    [Fact]
    public void A_failed_close_is_retried_after_10_s_30_s_1_min_5_min_and_then_every_tick_each_at_most_one_tick()
    {
        var tick = TimeSpan.FromMinutes(10);
        Assert.Equal([10, 30, 60, 300, 600, 600, 600], Enumerable.Range(1, 7).Select(a => CloseRetries.DelayAfter(a, tick).TotalSeconds));
        Assert.Equal([2, 2, 2, 2, 2], Enumerable.Range(1, 5).Select(a => CloseRetries.DelayAfter(a, TimeSpan.FromSeconds(2)).TotalSeconds));
        Assert.Equal([10, 30, 45, 45], Enumerable.Range(1, 4).Select(a => CloseRetries.DelayAfter(a, TimeSpan.FromSeconds(45)).TotalSeconds));
    }

    [Fact]
    public void An_error_is_described_by_the_postgresql_error_inside_it_on_one_line()
    {
        var postgres = new PostgresException("canceling statement due to lock timeout", "ERROR", "ERROR", "55P03");
        var wrapped = new InvalidOperationException("Marten Command Failure:\nupdate billing.mt_doc_closedperiod ...", postgres);
        Assert.Equal("PostgresException: 55P03: canceling statement due to lock timeout", CloseRetries.Describe(wrapped));
        Assert.Equal("InvalidOperationException: first line", CloseRetries.Describe(new InvalidOperationException("first line\nsecond line")));
        Assert.Equal(300 + "TimeoutException: ".Length + 1, CloseRetries.Describe(new TimeoutException(new string('x', 500))).Length);
    }

    static readonly Duration Grace = Duration.FromHours(24);
    static readonly Duration MaxOverdue = Duration.FromMinutes(30);
    static readonly BillingPeriod October = new(2026, 10);
    static readonly Instant OctoberDue = Instant.FromUtc(2026, 11, 2, 0, 0);

    static IReadOnlyList<DuePeriod> NotClosed(Instant now, Instant servingSince, IReadOnlyDictionary<BillingPeriod, CloseFailure>? failures = null, params BillingPeriod[] closed) =>
        PeriodClose.NotClosed(now, Grace, LateWindow.Default, closed.ToHashSet(), failures ?? new Dictionary<BillingPeriod, CloseFailure>(), servingSince, MaxOverdue);

    [Fact]
    public void A_due_period_not_closed_is_overdue_once_it_has_been_due_longer_than_the_threshold()
    {
        var servedLong = OctoberDue - Duration.FromDays(30);
        var within = Assert.Single(NotClosed(OctoberDue + Duration.FromMinutes(30), servedLong, null, new(2026, 8), new(2026, 9)));
        Assert.Equal((October, OctoberDue, Duration.FromMinutes(30), false), (within.Period, within.DueAt, within.PastDue, within.Overdue));

        var past = Assert.Single(NotClosed(OctoberDue + Duration.FromMinutes(30) + Duration.FromSeconds(1), servedLong, null, new(2026, 8), new(2026, 9)));
        Assert.True(past.Overdue);
        Assert.Null(past.Failure);

        // Not due before its grace has passed, and never once closed.
        Assert.Empty(NotClosed(OctoberDue - Duration.FromSeconds(1), servedLong, null, new(2026, 8), new(2026, 9)));
        Assert.Empty(NotClosed(OctoberDue + Duration.FromDays(1), servedLong, null, new(2026, 8), new(2026, 9), October));
    }

    [Fact]
    public void A_node_that_just_started_gives_the_schedule_the_threshold_before_an_old_period_is_overdue_unless_its_close_failed()
    {
        var now = OctoberDue + Duration.FromDays(3);
        var justStarted = NotClosed(now, now - Duration.FromMinutes(5));
        Assert.Equal([new(2026, 8), new(2026, 9), October], justStarted.Select(d => d.Period));
        Assert.All(justStarted, d => Assert.False(d.Overdue));

        var failure = CloseFailure.After(null, October, now - Duration.FromMinutes(1), "PostgresException: 55P03: canceling statement due to lock timeout", "schedule", null);
        var failed = NotClosed(now, now - Duration.FromMinutes(5), new Dictionary<BillingPeriod, CloseFailure> { [October] = failure });
        Assert.Equal([false, false, true], failed.Select(d => d.Overdue));
        Assert.Same(failure, failed[2].Failure);

        Assert.All(NotClosed(now, now - MaxOverdue - Duration.FromSeconds(1)), d => Assert.True(d.Overdue));
    }

    [Fact]
    public void Each_failed_attempt_counts_on_the_record_which_keeps_its_first_failure()
    {
        var first = CloseFailure.After(null, October, OctoberDue, "one", "schedule", OctoberDue + Duration.FromSeconds(10));
        var second = CloseFailure.After(first, October, OctoberDue + Duration.FromSeconds(10), "two", "cli:ops", null);
        Assert.Equal(("2026-10", OctoberDue, OctoberDue + Duration.FromSeconds(10), 2, "two", "cli:ops", (Instant?)null),
            (second.Id, second.FirstFailedAt, second.LastFailedAt, second.Failures, second.LastError, second.LastRequestedBy, second.NextAttemptAt));
        Assert.Equal(1, first.Failures);
    }

    [Fact]
    public void The_tick_sends_no_second_close_for_a_period_whose_failed_close_waits_for_its_retry()
    {
        var settings = Billing.Host.BillingSettings.FromEnvironment();
        var now = OctoberDue + Duration.FromHours(1);
        var open = new OpenPeriods(now, new HashSet<BillingPeriod> { new(2026, 8) }, new HashSet<BillingPeriod> { October });
        var sent = CloseDuePeriodsHandler.Handle(new CloseDuePeriods(), open, LateWindow.Default, settings).OfType<ClosePeriod>().ToList();
        Assert.Equal([new(2026, 9)], sent.Select(c => c.Period));
        Assert.All(sent, c => Assert.Equal("schedule", c.RequestedBy));
    }
}
