using System.Globalization;
using System.Text;
using Billing.Metering;
using NodaTime;

namespace Billing.Host.WebConsole;

/// <summary>What a chart's bars measure.</summary>
public enum ChartMetric { Gb, EndpointHours }

/// <summary>
/// A period's daily usage as an inline SVG bar chart: one bar per day of the period, stacked by AZ,
/// drawn on the server so the console needs no script at all. Pure (data in, markup out), so it is
/// tested without a browser. Every bar segment carries its figures as data attributes
/// (<c>data-day</c>, <c>data-az</c>, <c>data-hours</c>, <c>data-bytes</c>, <c>data-gb</c>) and every
/// text in it is HTML-encoded.
/// </summary>
public static class UsageChart
{
    const int Width = 760, Height = 240, Left = 64, Right = 12, Top = 28, Bottom = 28;

    /// <summary>Colours for AZs in name order; more AZs than colours reuse them, and the legend still names each.</summary>
    static readonly string[] Colours = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9", "#84cc16", "#ec4899"];

    public static string Svg(BillingPeriod period, IReadOnlyList<DailyAzUsage> daily, ChartMetric metric)
    {
        var days = DaysOf(period);
        var azs = daily.Select(d => d.AzId).Distinct().OrderBy(a => a, StringComparer.Ordinal).ToList();
        var byDay = daily.GroupBy(d => d.Day).ToDictionary(g => g.Key, g => g.OrderBy(d => d.AzId, StringComparer.Ordinal).ToList());
        var max = byDay.Values.Select(ds => ds.Sum(d => Value(d, metric))).DefaultIfEmpty(0).Max();
        var what = metric == ChartMetric.Gb ? "GB processed per day" : "endpoint-hours per day";

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {Width} {Height}" width="{Width}" height="{Height}" role="img" aria-label="{Html.E(what)} in {Html.E(period.ToString())}, by AZ" data-chart="{(metric == ChartMetric.Gb ? "gb" : "hours")}" data-period="{Html.E(period.ToString())}">""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left}" y="16" font-size="13" font-weight="600">{Html.E(what)}</text>""");
        var plotHeight = Height - Top - Bottom;
        var slot = (Width - Left - Right) / (double)days.Count;
        // The axis and its top figure: enough to read a bar's height; each bar's exact figures are in its title.
        svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{Left}" y1="{Top + plotHeight}" x2="{Width - Right}" y2="{Top + plotHeight}" stroke="#94a3b8"/>""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left - 6}" y="{Top + 4}" font-size="11" text-anchor="end">{Html.E(Axis(max, metric))}</text>""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left - 6}" y="{Top + plotHeight}" font-size="11" text-anchor="end">0</text>""");
        if (max == 0)
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{(Left + Width) / 2}" y="{Top + plotHeight / 2}" font-size="13" text-anchor="middle" fill="#64748b" data-empty="true">no usage in this period</text>""");

        for (var i = 0; i < days.Count; i++)
        {
            var x = Left + i * slot + slot * 0.15;
            var barWidth = slot * 0.7;
            if (i == 0 || (i + 1) % 5 == 0)
                svg.Append(CultureInfo.InvariantCulture, $"""<text x="{F(x + barWidth / 2)}" y="{Height - 10}" font-size="10" text-anchor="middle">{days[i].Day}</text>""");
            if (max == 0 || !byDay.TryGetValue(days[i], out var segments)) continue;
            var y = (double)(Top + plotHeight);
            foreach (var d in segments)
            {
                var value = Value(d, metric);
                if (value == 0) continue;
                var h = (double)(value / max) * plotHeight;
                y -= h;
                var colour = Colours[azs.IndexOf(d.AzId) % Colours.Length];
                svg.Append(CultureInfo.InvariantCulture, $"""<rect x="{F(x)}" y="{F(y)}" width="{F(barWidth)}" height="{F(h)}" fill="{colour}" {Attributes(d)}><title>{Html.E(Title(d))}</title></rect>""");
            }
        }

        // The legend, top right: one swatch per AZ, in the colours of the bars.
        var lx = Width - Right - azs.Count * 110;
        for (var a = 0; a < azs.Count; a++)
        {
            var x = Math.Max(Left + 200, lx + a * 110);
            svg.Append(CultureInfo.InvariantCulture, $"""<rect x="{x}" y="6" width="10" height="10" fill="{Colours[a % Colours.Length]}"/><text x="{x + 14}" y="15" font-size="11" data-legend-az="{Html.E(azs[a])}">{Html.E(azs[a])}</text>""");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>A day's figures in one AZ as data attributes: what tests and scripts read instead of pixels.</summary>
    public static string Attributes(DailyAzUsage d) =>
        $"""data-day="{Html.E(d.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))}" data-az="{Html.E(d.AzId)}" data-hours="{d.EndpointHours.ToString(CultureInfo.InvariantCulture)}" data-bytes="{d.Bytes.ToString(CultureInfo.InvariantCulture)}" data-gb="{Gigabytes.Format(d.Gb)}" """.TrimEnd();

    static string Title(DailyAzUsage d) =>
        $"{d.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} {d.AzId}: {d.EndpointHours} endpoint-hours, {Gigabytes.Format(d.Gb)} GB";

    static decimal Value(DailyAzUsage d, ChartMetric metric) => metric == ChartMetric.Gb ? d.Gb : d.EndpointHours;

    static string Axis(decimal max, ChartMetric metric) =>
        metric == ChartMetric.Gb ? $"{max.ToString("0.###", CultureInfo.InvariantCulture)} GB" : $"{max.ToString("0", CultureInfo.InvariantCulture)} h";

    static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>The period's days in UTC, first to last.</summary>
    public static List<LocalDate> DaysOf(BillingPeriod period)
    {
        var days = new List<LocalDate>();
        for (var d = period.Start.InUtc().Date; d < period.End.InUtc().Date; d = d.PlusDays(1)) days.Add(d);
        return days;
    }
}
