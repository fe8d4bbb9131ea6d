using System.Diagnostics;

namespace Billing.Tests.Support;

/// <summary>
/// The real RabbitMQ the broker tests run on: the project-local node that scripts/broker.sh starts
/// (installing Debian's rabbitmq-server if need be; BILLING_AMQP_PORT chooses its port). Every test class gets a virtual host of its own, so classes
/// run in parallel without taking each other's messages from the queue `usage`.
/// </summary>
public static class RabbitMqBroker
{
    static readonly SemaphoreSlim Gate = new(1, 1);
    static bool _started;

    public static async Task<string> CreateVirtualHostAsync(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 60)];
        await Gate.WaitAsync();
        try
        {
            if (!_started) await BrokerAsync("start");
            _started = true;
        }
        finally
        {
            Gate.Release();
        }
        return (await BrokerAsync("add-vhost", name)).Trim();
    }

    static async Task<string> BrokerAsync(params string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(PostgresServer.RepositoryRoot(), "scripts", "broker.sh"));
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // Bounded: a node that cannot start (or a start that hangs) fails the test with the script's words.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"scripts/broker.sh {string.Join(' ', args)} did not finish within 3 minutes: {await stderr}");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"scripts/broker.sh {string.Join(' ', args)} failed: {await stderr}");
        return await stdout;
    }
}
