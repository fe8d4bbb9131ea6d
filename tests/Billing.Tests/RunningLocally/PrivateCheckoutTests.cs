using System.Net;
using System.Net.Sockets;
using Billing.Tests.Support;
using Npgsql;
using RabbitMQ.Client;

namespace Billing.Tests.RunningLocally;

/// <summary>
/// A checkout under a folder only root may enter (mktemp -d, /root, a Debian 12 home are 0700): the
/// database and the broker still start, since PostgreSQL and RabbitMQ run as their own users, who
/// cannot reach the checkout's .data; both scripts then keep their node's files under /var/tmp.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PrivateCheckoutTests : IDisposable
{
    readonly string _root;

    public PrivateCheckoutTests()
    {
        // The parent is private as mktemp -d makes it; the checkout inside it is an ordinary folder.
        var parent = Directory.CreateTempSubdirectory("billing-private-").FullName;
        File.SetUnixFileMode(parent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _root = Path.Combine(parent, "checkout");
        Directory.CreateDirectory(Path.Combine(_root, "scripts"));
        foreach (var script in new[] { "db.sh", "broker.sh" })
            File.Copy(Path.Combine(PostgresServer.RepositoryRoot(), "scripts", script), Path.Combine(_root, "scripts", script));
    }

    public void Dispose()
    {
        Directory.Delete(Path.GetDirectoryName(_root)!, recursive: true);
        // The scripts' folders for this checkout, named by the first 8 hex digits of the MD5 of `echo "$root"`.
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(_root + "\n")))[..8];
        foreach (var dir in new[] { $"/var/tmp/billing-pg-{hash}", $"/var/tmp/billing-rabbitmq-{hash}" })
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    Task<ShellScript.Result> RunAsync(string script, string verb, string portVariable, int port) =>
        ShellScript.RunAsync(Path.Combine(_root, "scripts", script), [verb],
            new Dictionary<string, string?> { [portVariable] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) }, TimeSpan.FromSeconds(150));

    [Fact]
    public async Task The_broker_starts_from_a_0700_folder_and_takes_connections_as_the_billing_user()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(_root)!));
        var port = BrokerPort();
        try
        {
            var started = await RunAsync("broker.sh", "start", "BILLING_AMQP_PORT", port);
            Assert.True(started.ExitCode == 0, started.StandardError);
            Assert.Contains($"broker: started on 127.0.0.1:{port} (data in /var/tmp/billing-rabbitmq-", started.StandardError);

            var url = (await RunAsync("broker.sh", "url", "BILLING_AMQP_PORT", port)).StandardOutput.Trim();
            Assert.StartsWith("amqp://billing:", url);
            await using var connection = await new ConnectionFactory { Uri = new Uri(url) }.CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            var queue = await channel.QueueDeclareAsync("private-checkout", durable: false, exclusive: true, autoDelete: true);
            Assert.Equal((uint)0, queue.MessageCount);

            var status = await RunAsync("broker.sh", "status", "BILLING_AMQP_PORT", port);
            Assert.Equal((0, $"broker: running on 127.0.0.1:{port}"), (status.ExitCode, status.StandardOutput.Trim()));
        }
        finally
        {
            await RunAsync("broker.sh", "stop", "BILLING_AMQP_PORT", port);
        }
        var stopped = await RunAsync("broker.sh", "status", "BILLING_AMQP_PORT", port);
        Assert.Equal((3, "broker: not running"), (stopped.ExitCode, stopped.StandardOutput.Trim()));
    }

    [Fact]
    public async Task The_database_starts_from_a_0700_folder_and_answers()
    {
        var port = Ports.Free();
        try
        {
            var started = await RunAsync("db.sh", "start", "BILLING_PG_PORT", port);
            Assert.True(started.ExitCode == 0, started.StandardError);
            Assert.Contains($"db: started on 127.0.0.1:{port}", started.StandardError);
            await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres");
            await connection.OpenAsync();
            await using var cmd = new NpgsqlCommand("show data_directory", connection);
            Assert.StartsWith("/var/tmp/billing-pg-", (string)(await cmd.ExecuteScalarAsync())!);
        }
        finally
        {
            await RunAsync("db.sh", "stop", "BILLING_PG_PORT", port);
        }
    }

    /// <summary>A port for the node whose two neighbours below, its Erlang distribution and epmd ports (broker.sh), are free too.</summary>
    static int BrokerPort()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var port = Random.Shared.Next(30_000, 60_000);
            if (new[] { port, port - 1000, port - 1001 }.All(IsFree)) return port;
        }
        throw new InvalidOperationException("no free port with free neighbours for the broker");
    }

    static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
