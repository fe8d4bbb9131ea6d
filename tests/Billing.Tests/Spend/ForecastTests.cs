using Billing.Events;
using Billing.Invoicing;
using Billing.Invoicing.Spend;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Spend;

/// <summary>The month-to-date window, the forecast and their pricing, over plain data (no database).</summary>
public sealed class ForecastTests
{
    static readonly BillingPeriod October = new(2026, 10);
    const long GiB = 1L << 30;

    static AccountUsage Usage(int hours, long processedBytes, long crossAzBytes = 0) => new("111122223333", October,
        hours > 0 ? [new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az1", hours)] : [],
        processedBytes > 0 ? [new DataProcessedUsage("us-east-1", "Interface", processedBytes)] : [],
        crossAzBytes > 0 ? [new CrossAzUsage("us-east-1", crossAzBytes)] : []);

    [Fact]
    public void Inside_a_period_the_hours_begun_are_billed_and_the_last_week_gives_the_rate()
    {
        var w = new SpendWindow(October, Instant.FromUtc(2026, 10, 10, 12, 30));

        // 9 whole days and the 13 hours of the 10th begun (12:00-13:00 only partly, rounded up).
        Assert.Equal((229, 168, 515), (w.HoursBegun, w.TrailingHours, w.RemainingHours));
        Assert.Equal(Instant.FromUtc(2026, 10, 3, 13, 0), w.TrailingFrom);
        Assert.Equal(Instant.FromUtc(2026, 10, 10, 12, 0), w.Hour);
        Assert.False(w.Ended);
    }

    [Fact]
    public void An_hour_starting_exactly_at_the_reading_has_not_begun_and_early_in_the_month_the_window_is_shorter()
    {
        Assert.Equal((0, 0, 744), Of(new SpendWindow(October, October.Start)));
        Assert.Equal((1, 1, 743), Of(new SpendWindow(October, October.Start + Duration.FromSeconds(1))));
        Assert.Equal((48, 48, 696), Of(new SpendWindow(October, Instant.FromUtc(2026, 10, 3, 0, 0))));
        var after = new SpendWindow(October, Instant.FromUtc(2026, 11, 5, 0, 0));
        Assert.Equal((744, 168, 0), Of(after));
        Assert.True(after.Ended);
        Assert.Equal(October.End, after.Cutoff);

        static (int, int, int) Of(SpendWindow w) => (w.HoursBegun, w.TrailingHours, w.RemainingHours);
    }

    [Fact]
    public void The_forecast_keeps_what_is_provisioned_and_carries_the_trailing_rate_over_the_hours_to_come()
    {
        var w = new SpendWindow(October, Instant.FromUtc(2026, 10, 10, 12, 30));
        // 100 GiB so far, 70 GiB of it in the last 168 hours; 20 GiB cross-AZ, 14 GiB of it lately.
        var forecast = Forecast.Extend(Usage(229, 100 * GiB, 20 * GiB), Usage(744, 0), Usage(0, 70 * GiB, 14 * GiB), w);

        Assert.Equal(744, Assert.Single(forecast.EndpointHours).Hours);
        // 70 GiB x 515 / 168 = 230,407,099,733.33 bytes to come, rounded to a whole byte.
        Assert.Equal(100 * GiB + 230_407_099_733m, Assert.Single(forecast.DataProcessed).Bytes);
        // 14 GiB x 515 / 168 = 46,081,419,946.67 bytes.
        Assert.Equal(20 * GiB + 46_081_419_947m, Assert.Single(forecast.CrossAz).Bytes);
    }

    [Fact]
    public void Traffic_seen_only_before_the_trailing_week_adds_nothing_more()
    {
        // 20 October 00:00: 456 hours begun, 288 to come.
        var w = new SpendWindow(October, Instant.FromUtc(2026, 10, 20, 0, 0));
        var actual = new AccountUsage("a", October, [], [new DataProcessedUsage("eu-west-1", "Interface", 5 * GiB), new DataProcessedUsage("us-east-1", "Resource", 2 * GiB)], []);
        var trailing = new AccountUsage("a", October, [], [new DataProcessedUsage("us-east-1", "Resource", 2 * GiB)], []);

        var forecast = Forecast.Extend(actual, Usage(0, 0), trailing, w);

        // 2 GiB x 288 / 168 = 3,681,400,539.43 bytes more in us-east-1; eu-west-1 stays as it is.
        Assert.Equal([("eu-west-1", "Interface", 5m * GiB), ("us-east-1", "Resource", 2m * GiB + 3_681_400_539m)], forecast.DataProcessed.Select(d => (d.Region, d.Pool, d.Bytes)));
        Assert.Empty(forecast.EndpointHours);
    }

    [Fact]
    public void Priced_by_the_invoice_code_the_month_to_date_cost_and_forecast_are_worked_by_hand()
    {
        var w = new SpendWindow(October, Instant.FromUtc(2026, 10, 10, 12, 30));
        var facts = new SpendFacts("111122223333", w, Usage(229, 100 * GiB), Usage(744, 0), Usage(0, 70 * GiB), "JP", []);

        var spend = MonthToDateCost.Price(facts, PriceBook.Default);

        // Actual: 229 h x 0.01 = 2.29 and 100 GB x 0.01 = 1.00; Japan's 10%.
        Assert.Equal(new SpendAmounts(3.29m, 0.33m, 3.62m), spend.Actual);
        // Forecast: 744 h = 7.44 and 314.583333333 GB x 0.01 = 3.15.
        Assert.Equal(new SpendAmounts(10.59m, 1.06m, 11.65m), spend.Forecast);
        Assert.Equal(["endpoint-hours", "data-processing"], spend.Lines.Select(l => l.Kind.Wire()));
        Assert.True(spend.IsEstimate);
        Assert.Equal("estimate: endpoint-AZs provisioned at asOf stay provisioned until the period ends; traffic goes on at its hourly rate of the last 168 hours for the 515 hours to come", spend.Method);
        Assert.Equal(w.AsOf, spend.AsOf);
    }

    [Fact]
    public void Adjustments_a_close_would_carry_are_in_both_and_an_account_not_opened_is_shown_without_tax()
    {
        var september = new BillingPeriod(2026, 9);
        var adjustment = InvoiceLine.Adjustment(september, InvoiceLine.EndpointHours("us-east-1", EndpointType.Interface, "use1-az1", 10, 0.01m), -10, -0.10m);
        var w = new SpendWindow(October, Instant.FromUtc(2026, 10, 10, 12, 30));

        var spend = MonthToDateCost.Price(new SpendFacts("a", w, Usage(229, 0), Usage(744, 0), Usage(0, 0), null, [adjustment]), PriceBook.Default);

        Assert.Equal(new SpendAmounts(2.19m, 0m, 2.19m), spend.Actual);
        Assert.Equal(new SpendAmounts(7.34m, 0m, 7.34m), spend.Forecast);
        Assert.Equal(september, spend.Lines[^1].Adjusts);
    }

    [Fact]
    public void An_ended_period_forecasts_its_actual_cost_and_an_invoiced_one_is_its_invoice()
    {
        var ended = new SpendWindow(October, Instant.FromUtc(2026, 11, 1, 3, 0));
        var spend = MonthToDateCost.Price(new SpendFacts("a", ended, Usage(744, 10 * GiB), Usage(744, 10 * GiB), Usage(744, 10 * GiB), "US", []), PriceBook.Default);
        Assert.Equal(new SpendAmounts(7.54m, 0m, 7.54m), spend.Actual);
        Assert.Equal(spend.Actual, spend.Forecast);
        Assert.False(spend.IsEstimate);

        var invoice = Charges.Issued(Charges.Hours("a", October, 700), "INV-2026-000007", Instant.FromUtc(2026, 11, 2, 0, 0));
        var invoiced = MonthToDateCost.Price(new SpendFacts("a", ended, Usage(744, 0), Usage(744, 0), Usage(744, 0), "US", [], invoice), PriceBook.Default);
        Assert.Equal((new SpendAmounts(7.00m, 0m, 7.00m), "INV-2026-000007", invoice.IssuedAt), (invoiced.Actual, invoiced.InvoiceNumber, invoiced.AsOf));
        Assert.Equal(invoiced.Actual, invoiced.Forecast);
        Assert.Equal(invoice.Lines, invoiced.Lines);
    }
}
