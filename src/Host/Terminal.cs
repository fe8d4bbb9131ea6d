using System.Diagnostics;

namespace Billing.Host;

/// <summary>
/// Progress of long operations on stderr: one line rewritten in place on a terminal, a line
/// every few seconds when stderr is a file or a pipe (CI logs stay readable).
/// </summary>
public sealed class TerminalProgress(string label, long total)
{
    readonly Stopwatch _clock = Stopwatch.StartNew();
    TimeSpan? _lastPrinted;
    static readonly bool Interactive = !Console.IsErrorRedirected;

    public void Report(long done, string? detail = null, bool force = false)
    {
        var now = _clock.Elapsed;
        var every = Interactive ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(5);
        if (!force && _lastPrinted is { } last && now - last < every) return;
        _lastPrinted = now;
        var pct = total > 0 ? $"{100.0 * done / total,5:0.0}%" : "";
        var rate = now.TotalSeconds > 0 ? $"{done / now.TotalSeconds,10:N0}/s" : "";
        var line = $"{label}: {done:N0}/{total:N0} {pct} {rate} {now:mm\\:ss} {detail}";
        if (Interactive) Console.Error.Write($"\r{line.PadRight(Math.Max(line.Length, 100))}");
        else Console.Error.WriteLine(line);
    }

    public void Done(long done, string? detail = null)
    {
        Report(done, detail, force: true);
        if (Interactive) Console.Error.WriteLine();
    }

    public TimeSpan Elapsed => _clock.Elapsed;
}
