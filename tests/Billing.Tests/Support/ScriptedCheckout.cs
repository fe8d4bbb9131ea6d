using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Billing.Tests.Support;

/// <summary>
/// A second checkout on this machine with the project's own server scripts (scripts/db.sh and
/// scripts/broker.sh copied into a temporary folder laid out like a checkout): its PostgreSQL cluster
/// and RabbitMQ node are its own, on ports of its own, so a test may stop and restart them without
/// touching the servers the rest of the suite runs on.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ScriptedCheckout : IAsyncDisposable
{
    readonly string _parent;
    bool _database, _broker;

    /// <param name="private">whether the folder holding the checkout is 0700, as mktemp -d makes it (the servers' users cannot enter it)</param>
    public ScriptedCheckout(bool @private = false)
    {
        _parent = Directory.CreateTempSubdirectory("billing-checkout-").FullName;
        File.SetUnixFileMode(_parent, @private
            ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            : (UnixFileMode)0b111_101_101);
        Root = Path.Combine(_parent, "checkout");
        Directory.CreateDirectory(Path.Combine(Root, "scripts"));
        foreach (var script in new[] { "db.sh", "broker.sh" })
            File.Copy(Path.Combine(PostgresServer.RepositoryRoot(), "scripts", script), Path.Combine(Root, "scripts", script));
    }

    public string Root { get; }
    public string Parent => _parent;
    public int DatabasePort { get; } = Ports.Free();
    public int BrokerPort { get; } = FreeBrokerPort();

    public Task<ShellScript.Result> DbAsync(string verb)
    {
        _database |= verb == "start";
        return RunAsync("db.sh", verb, "BILLING_PG_PORT", DatabasePort);
    }

    public Task<ShellScript.Result> BrokerAsync(string verb)
    {
        _broker |= verb == "start";
        return RunAsync("broker.sh", verb, "BILLING_AMQP_PORT", BrokerPort);
    }

    /// <summary>Runs a verb that must succeed, failing with what the script printed.</summary>
    public async Task<string> RequireAsync(Func<string, Task<ShellScript.Result>> script, string verb)
    {
        var result = await script(verb);
        if (result.ExitCode != 0) throw new InvalidOperationException($"{verb} failed ({result.ExitCode}): {result.StandardError}");
        return result.StandardOutput.Trim();
    }

    /// <summary>A new database on this checkout's cluster (started), as the connection string a node is given.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        var admin = $"Host=127.0.0.1;Port={DatabasePort};Username=postgres;Database=postgres";
        await using var connection = new Npgsql.NpgsqlConnection(admin);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand($"create database {name}", connection);
        await cmd.ExecuteNonQueryAsync();
        return $"Host=127.0.0.1;Port={DatabasePort};Username=postgres;Database={name}";
    }

    Task<ShellScript.Result> RunAsync(string script, string verb, string portVariable, int port) =>
        ShellScript.RunAsync(Path.Combine(Root, "scripts", script), [verb],
            new Dictionary<string, string?> { [portVariable] = port.ToString(CultureInfo.InvariantCulture) }, TimeSpan.FromSeconds(150));

    /// <summary>The scripts' folders for this checkout when it is private, named by the first 8 hex digits of the MD5 of `echo "$root"`.</summary>
    public IEnumerable<string> FallbackFolders()
    {
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(Root + "\n")))[..8];
        return [$"/var/tmp/billing-pg-{hash}", $"/var/tmp/billing-rabbitmq-{hash}"];
    }

    public async ValueTask DisposeAsync()
    {
        if (_broker) await BrokerAsync("stop");
        if (_database) await DbAsync("stop");
        Directory.Delete(_parent, recursive: true);
        foreach (var dir in FallbackFolders())
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>A port for a broker node whose two neighbours below, its Erlang distribution and epmd ports (broker.sh), are free too.</summary>
    static int FreeBrokerPort()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var port = Random.Shared.Next(30_000, 60_000);
            if (new[] { port, port - 1000, port - 1001 }.All(IsFree)) return port;
        }
        throw new InvalidOperationException("no free port with free neighbours for a broker node");
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
