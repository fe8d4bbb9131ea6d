using System.Diagnostics;

namespace Billing.Tests.Support;

/// <summary>
/// The one explicit wait for what no tracked session can see: a child process, a real executable,
/// an external producer's broker delivery or a row another transaction writes. Every wait has a
/// deadline and says what it waited for when it fails; the poll interval is the only sleep.
/// </summary>
public static class Eventually
{
    static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Polls <paramref name="condition"/> until it holds; throws a <see cref="TimeoutException"/> naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, TimeSpan? interval = null, Func<string>? details = null) =>
        UntilAsync(condition, holds => holds, timeout, what, interval, details is null ? null : _ => details());

    /// <summary>
    /// Reads until the value satisfies <paramref name="holds"/> and returns that value; on timeout the
    /// exception names <paramref name="what"/> and describes the last value read.
    /// </summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> holds, TimeSpan timeout, string what,
        TimeSpan? interval = null, Func<T, string>? describe = null)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var value = await read();
            if (holds(value)) return value;
            if (watch.Elapsed > timeout)
                throw new TimeoutException($"not reached within {timeout.TotalSeconds:0.#} s: {what}" + (describe is null ? "" : $"\n{describe(value)}"));
            await Task.Delay(interval ?? DefaultInterval);
        }
    }
}
