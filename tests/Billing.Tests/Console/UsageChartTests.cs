using System.Globalization;
using System.Xml.Linq;
using Billing.Host.WebConsole;
using Billing.Metering;
using NodaTime;

namespace Billing.Tests.ConsoleUi;

/// <summary>The chart is pure markup from data: read back as XML, without a browser.</summary>
public class UsageChartTests
{
    static readonly BillingPeriod October = new(2026, 10);
    static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    static List<XElement> Bars(string svg) => XDocument.Parse(svg).Descendants(Svg + "rect").Where(r => r.Attribute("data-day") is not null).ToList();

    [Fact]
    public void Each_day_and_AZ_is_one_bar_segment_carrying_its_figures()
    {
        DailyAzUsage[] daily =
        [
            new(new LocalDate(2026, 10, 1), "use1-az1", 13, 8L << 30),
            new(new LocalDate(2026, 10, 1), "use1-az2", 14, 3L << 30),
            new(new LocalDate(2026, 10, 31), "use1-az1", 24, 0),
        ];
        var bars = Bars(UsageChart.Svg(October, daily, ChartMetric.EndpointHours));

        Assert.Equal(["2026-10-01/use1-az1/13", "2026-10-01/use1-az2/14", "2026-10-31/use1-az1/24"],
            bars.Select(b => $"{b.Attribute("data-day")!.Value}/{b.Attribute("data-az")!.Value}/{b.Attribute("data-hours")!.Value}"));
        Assert.Equal("8.000000000", bars[0].Attribute("data-gb")!.Value);
        Assert.Equal((8L << 30).ToString(CultureInfo.InvariantCulture), bars[0].Attribute("data-bytes")!.Value);
        // The tallest day fills the plot's height: 24 h on the 31st is as tall as 13 + 14 = 27 h would be scaled to 27.
        var heights = bars.Select(b => double.Parse(b.Attribute("height")!.Value, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(184, heights[0] + heights[1], precision: 1);
        Assert.Equal(184 * 24 / 27.0, heights[2], precision: 1);
    }

    [Fact]
    public void A_GB_chart_leaves_out_days_without_bytes()
    {
        DailyAzUsage[] daily = [new(new LocalDate(2026, 10, 1), "use1-az1", 13, 1L << 30), new(new LocalDate(2026, 10, 2), "use1-az1", 24, 0)];
        var svg = UsageChart.Svg(October, daily, ChartMetric.Gb);

        Assert.Equal(["2026-10-01"], Bars(svg).Select(b => b.Attribute("data-day")!.Value));
        Assert.Equal("gb", XDocument.Parse(svg).Root!.Attribute("data-chart")!.Value);
    }

    [Fact]
    public void A_period_without_usage_says_so_and_draws_no_bar()
    {
        var svg = UsageChart.Svg(October, [], ChartMetric.Gb);

        Assert.Empty(Bars(svg));
        Assert.Contains("no usage in this period", svg);
    }

    [Fact]
    public void Every_text_is_HTML_encoded()
    {
        DailyAzUsage[] daily = [new(new LocalDate(2026, 10, 1), "<script>alert(1)</script>\"", 1, 1)];
        var svg = UsageChart.Svg(October, daily, ChartMetric.EndpointHours);

        Assert.DoesNotContain("<script>", svg);
        Assert.Equal("<script>alert(1)</script>\"", Bars(svg).Single().Attribute("data-az")!.Value);
    }

    [Fact]
    public void A_period_has_one_slot_per_UTC_day()
    {
        Assert.Equal(31, UsageChart.DaysOf(October).Count);
        Assert.Equal(28, UsageChart.DaysOf(new BillingPeriod(2027, 2)).Count);
    }
}
