using System.Globalization;
using System.Text.RegularExpressions;

namespace Billing.Tests.Support;

/// <summary>One sample of a Prometheus scrape: the metric's name, its labels and its value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Reads the text exposition format as /metrics writes it, to find samples by name and labels.</summary>
public static partial class Prometheus
{
    public static IReadOnlyList<PrometheusSample> Parse(string scrape) =>
        SampleLine().Matches(scrape).Select(m => new PrometheusSample(
            m.Groups["name"].Value,
            Label().Matches(m.Groups["labels"].Value).ToDictionary(l => l.Groups["k"].Value, l => l.Groups["v"].Value),
            double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))).ToList();

    /// <summary>The samples of <paramref name="name"/> that carry every one of <paramref name="labels"/>.</summary>
    public static IEnumerable<PrometheusSample> Matching(this IEnumerable<PrometheusSample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value));

    /// <summary>The one sample of <paramref name="name"/> with these labels; null when there is none.</summary>
    public static double? Sample(string scrape, string name, params (string Key, string Value)[] labels)
    {
        var values = Parse(scrape).Matching(name, labels).Select(s => s.Value).ToList();
        return values.Count switch { 0 => null, 1 => values[0], _ => throw new InvalidOperationException($"{values.Count} samples of {name} match") };
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?<labels>[^}]*)\})? (?<value>\S+)", RegexOptions.Multiline)]
    private static partial Regex SampleLine();

    [GeneratedRegex("(?<k>[a-zA-Z_][a-zA-Z0-9_]*)=\"(?<v>[^\"]*)\"")]
    private static partial Regex Label();
}
