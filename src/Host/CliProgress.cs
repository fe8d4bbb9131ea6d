using System.Diagnostics;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Billing.Host;

/// <summary>
/// Progress of a long operation on stderr: Spectre.Console's live progress bar on a terminal, and a
/// plain line every few seconds when stderr is a file or a pipe (CI logs, tests), where a live display
/// does not render. Both show the same figures; the rate follows <see cref="Rate"/>.
/// </summary>
/// <param name="doneAtStart">Work already done when this progress starts (say, records decided while
/// they were still being published): shown in the count, left out of the rate.</param>
public sealed class CliProgress : IDisposable
{
    public CliProgress(string label, long total, long doneAtStart = 0)
    {
        _label = label;
        _total = total;
        _doneAtStart = doneAtStart;
    }

    /// <summary>No rate is shown before this much time has passed: over a shorter interval it says nothing (it once read 8,617,888/s).</summary>
    public static readonly TimeSpan MinRateInterval = TimeSpan.FromSeconds(1);

    static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(5);
    static readonly IAnsiConsole Stderr = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>1 while a live display runs: Spectre refuses a second one at once, so a progress started meanwhile prints lines.</summary>
    static int _liveRunning;

    readonly string _label;
    readonly long _total;
    readonly long _doneAtStart;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly Lock _gate = new();
    TimeSpan? _lastPrinted;
    long _done;
    string? _detail;
    LiveDisplay? _live;
    bool _started;

    public TimeSpan Elapsed => _clock.Elapsed;

    public void Report(long done, string? detail = null, bool force = false)
    {
        lock (_gate)
        {
            _done = done;
            _detail = detail;
            if (!_started)
            {
                _started = true;
                if (!Console.IsErrorRedirected && Interlocked.CompareExchange(ref _liveRunning, 1, 0) == 0) _live = new LiveDisplay(this);
            }
            if (_live is not null) return;
            var now = _clock.Elapsed;
            if (!force && _lastPrinted is { } last && now - last < PlainEvery) return;
            _lastPrinted = now;
            Console.Error.WriteLine(FormatLine(_label, done, _total, now, detail, _doneAtStart));
        }
    }

    /// <summary>Shows the final figures: the bar completes on a terminal, a last line is printed otherwise.</summary>
    public void Done(long done, string? detail = null)
    {
        Report(done, detail, force: true);
        Dispose();
    }

    /// <summary>Ends a live display (and gives the cursor back) also when the work failed before <see cref="Done"/>.</summary>
    public void Dispose()
    {
        LiveDisplay? live;
        lock (_gate)
        {
            live = _live;
            _live = null;
        }
        if (live is null) return;
        live.Stop();
        Interlocked.Exchange(ref _liveRunning, 0);
    }

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

    /// <summary>The columns' text, from the progress's own figures (Spectre's task only drives the bar and the percentage).</summary>
    string CountText() => $"{Volatile.Read(ref _done):N0}/{_total:N0}";
    string RateText() => Rate(Volatile.Read(ref _done) - _doneAtStart, _clock.Elapsed) ?? "—";
    string DetailText() => Volatile.Read(ref _detail) ?? "";

    /// <summary>Spectre's progress display running until <see cref="Stop"/>: its task follows the progress's count.</summary>
    sealed class LiveDisplay
    {
        readonly TaskCompletionSource _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly Task _running;

        public LiveDisplay(CliProgress progress)
        {
            _running = Stderr.Progress()
                .AutoClear(false)
                .Columns(
                    new TaskDescriptionColumn { Alignment = Justify.Left },
                    new ProgressBarColumn(),
                    new PercentageColumn(),
                    new TextColumn(progress.CountText),
                    new TextColumn(progress.RateText),
                    new ElapsedTimeColumn(),
                    new TextColumn(progress.DetailText))
                .StartAsync(async context =>
                {
                    // Nothing to do (a total of 0) shows as a bar of 1 that completes at the end.
                    var task = context.AddTask(progress._label, maxValue: Math.Max(progress._total, 1));
                    while (!_stop.Task.IsCompleted)
                    {
                        task.Value = Volatile.Read(ref progress._done);
                        await Task.WhenAny(_stop.Task, Task.Delay(100));
                    }
                    task.Value = progress._total > 0 ? Volatile.Read(ref progress._done) : task.MaxValue;
                    task.StopTask();
                });
        }

        public void Stop()
        {
            _stop.TrySetResult();
            _running.GetAwaiter().GetResult();
        }
    }

    /// <summary>A column of plain text computed when Spectre renders.</summary>
    sealed class TextColumn(Func<string> text) : ProgressColumn
    {
        protected override bool NoWrap => true;
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) => new Text(text());
    }
}
