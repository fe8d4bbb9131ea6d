using System.Diagnostics;

namespace Billing.Tests.Support;

/// <summary>Runs a bash script of the repository (or a copy of one) as a child process and collects what it printed.</summary>
public static class ShellScript
{
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);

    /// <param name="environment">Variables to set; a null value removes one inherited from the test process.</param>
    public static async Task<Result> RunAsync(string script, IEnumerable<string> args, IReadOnlyDictionary<string, string?> environment, TimeSpan timeout)
    {
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(script)!,
        };
        info.ArgumentList.Add(script);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment)
        {
            if (value is null) info.Environment.Remove(name);
            else info.Environment[name] = value;
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{script} {string.Join(' ', args)} did not exit within {timeout}; stderr so far is not available");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
