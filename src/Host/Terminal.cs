using System.Diagnostics;

namespace Billing.Host;

/// <summary>
/// Progress of long operations on stderr: one line rewritten in place on a terminal, a line
/// every few seconds when stderr is a file or a pipe (CI logs stay readable).
/// </summary>
/// <param name="doneAtStart">Work already done when this progress starts (say, records decided while
/// they were still being published): shown in the count, left out of the rate.</param>
public sealed class TerminalProgress(string label, long total, long doneAtStart = 0)
{
    /// <summary>No rate is shown before this much time has passed: over a shorter interval it says nothing (it once read 8,617,888/s).</summary>
    public static readonly TimeSpan MinRateInterval = TimeSpan.FromSeconds(1);

    readonly Stopwatch _clock = Stopwatch.StartNew();
    TimeSpan? _lastPrinted;
    static readonly bool Interactive = !Console.IsErrorRedirected;

    public void Report(long done, string? detail = null, bool force = false)
    {
        var now = _clock.Elapsed;
        var every = Interactive ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(5);
        if (!force && _lastPrinted is { } last && now - last < every) return;
        _lastPrinted = now;
        var line = FormatLine(label, done, total, now, detail, doneAtStart);
        if (Interactive) Console.Error.Write($"\r{line.PadRight(Math.Max(line.Length, 100))}");
        else Console.Error.WriteLine(line);
    }

    public void Done(long done, string? detail = null)
    {
        Report(done, detail, force: true);
        if (Interactive) Console.Error.WriteLine();
    }

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>One progress line: "label: done/total pct rate mm:ss detail"; the rate is "—" until <see cref="MinRateInterval"/> has passed.</summary>
    public static string FormatLine(string label, long done, long total, TimeSpan elapsed, string? detail = null, long doneAtStart = 0)
    {
        var pct = total > 0 ? $"{100.0 * done / total,5:0.0}%" : "";
        var rate = Rate(done - doneAtStart, elapsed) ?? "—";
        return $"{label}: {done:N0}/{total:N0} {pct} {rate,12} {elapsed:mm\\:ss} {detail}".TrimEnd();
    }

    /// <summary>Work per second over <paramref name="elapsed"/>, e.g. "10,000/s"; null when the interval is too short to mean anything.</summary>
    public static string? Rate(long done, TimeSpan elapsed) =>
        elapsed < MinRateInterval ? null : $"{Math.Max(done, 0) / elapsed.TotalSeconds:N0}/s";
}
