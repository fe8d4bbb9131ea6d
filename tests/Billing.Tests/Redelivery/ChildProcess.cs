using System.Diagnostics;
using System.Text;
using Billing.Tests.Support;

namespace Billing.Tests.Redelivery;

/// <summary>
/// `dotnet billing.dll VERB ...` as a real child process on a database of the test's own. Output is
/// drained as it comes (so the pipes never fill); disposing kills the whole tree if it still runs.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly StringBuilder _stdout = new();
    readonly StringBuilder _stderr = new();

    ChildProcess(Process process) => _process = process;

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public string StandardOutput { get { lock (_stdout) return _stdout.ToString(); } }
    public string StandardError { get { lock (_stderr) return _stderr.ToString(); } }

    public static ChildProcess Start(string dll, string connectionString, params string[] args) => Start(dll, connectionString, null, args);

    /// <summary>As <see cref="Start(string, string, string[])"/>, with more environment (e.g. BILLING_RABBITMQ).</summary>
    public static ChildProcess Start(string dll, string connectionString, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = PostgresServer.RepositoryRoot(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["BILLING_DB"] = connectionString;
        info.Environment["BILLING_URLS"] = "http://127.0.0.1:0";
        // A record waiting for an event that never comes is dead-lettered within a minute, so an
        // import that would wait (the default is 10 minutes) ends and its test fails with the reason.
        info.Environment["BILLING_RETRY_WINDOW_MINUTES"] = "1";
        info.Environment["BILLING_RETRY_DELAY_SECONDS"] = "5";
        // A killed node's partitions move to a live one after 5 s of silence instead of 20.
        info.Environment["BILLING_NODE_STALE_SECONDS"] = "5";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        var process = new Process { StartInfo = info };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (child._stdout) child._stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (child._stderr) child._stderr.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>SIGKILL on Linux: no shutdown hook, no graceful stop, open transactions die with their connections.</summary>
    public void KillNow()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as an orchestrator stops a process: the host shuts down gracefully; waits for it to exit.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        return await WaitForExitAsync(timeout);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"pid {Id} did not exit within {timeout}\nstdout:\n{StandardOutput}\nstderr (tail):\n{Tail(StandardError)}");
        }
        _process.WaitForExit(); // flushes the redirected output
        return _process.ExitCode;
    }

    public static string Tail(string text, int lines = 30) => string.Join('\n', text.Split('\n').TakeLast(lines));

    public ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) KillNow();
        }
        catch (InvalidOperationException)
        {
            // never started or already reaped
        }
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
