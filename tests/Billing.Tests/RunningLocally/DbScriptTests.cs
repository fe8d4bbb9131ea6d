using System.Net;
using System.Net.Sockets;
using Billing.Host;
using Billing.Tests.Support;
using Npgsql;

namespace Billing.Tests.RunningLocally;

/// <summary>
/// scripts/db.sh from a second checkout on the same machine: a copy of the script in a temporary
/// folder laid out like a checkout, so it has a .data of its own and never touches the cluster
/// the tests run on.
/// </summary>
public sealed class DbScriptTests : IDisposable
{
    readonly CheckoutCopy _checkout = new();

    public void Dispose() => _checkout.Dispose();

    string DataDir => _checkout.DataDir;
    Task<ShellScript.Result> DbAsync(string verb, int port) => _checkout.DbAsync(verb, port);

    sealed class CheckoutCopy : IDisposable
    {
        public string Root { get; } = Directory.CreateTempSubdirectory("billing-db-").FullName;

        public CheckoutCopy()
        {
            // Readable by the postgres user (initdb runs as it under root), so the cluster lives in the copy's .data.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
            Directory.CreateDirectory(Path.Combine(Root, "scripts"));
            File.Copy(Path.Combine(PostgresServer.RepositoryRoot(), "scripts", "db.sh"), Path.Combine(Root, "scripts", "db.sh"));
        }

        public string DataDir => Path.Combine(Root, ".data", "pg", "data");
        public bool HasData => Directory.Exists(Path.Combine(Root, ".data"));

        public Task<ShellScript.Result> DbAsync(string verb, int port) =>
            ShellScript.RunAsync(Path.Combine(Root, "scripts", "db.sh"), [verb],
                new Dictionary<string, string?> { ["BILLING_PG_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                TimeSpan.FromSeconds(120));

        public void Dispose() => Directory.Delete(Root, recursive: true);
    }

    [Fact]
    public async Task Start_on_a_port_another_process_holds_fails_with_one_sentence_naming_it_before_initialising_anything()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;

        var result = await DbAsync("start", port);

        Assert.NotEqual(0, result.ExitCode);
        var message = result.StandardError.Trim();
        Assert.DoesNotContain('\n', message);
        Assert.StartsWith($"db: port {port} on 127.0.0.1 is already held by ", message);
        Assert.Contains($"not by this checkout's cluster ({DataDir})", message);
        Assert.Contains("BILLING_PG_PORT=", message);
        Assert.Contains(" ./billing ", message);
        Assert.Contains(" ./scripts/test.sh", message);
        if (File.Exists("/usr/bin/ss") || File.Exists("/bin/ss"))
            Assert.Contains($"(pid {Environment.ProcessId})", message); // this test process holds the port
        Assert.False(_checkout.HasData, "a cluster folder was created before the port was checked");
    }

    [Fact]
    public async Task A_cluster_starts_on_the_BILLING_PG_PORT_of_each_start_whatever_port_it_was_initialised_with()
    {
        var first = Ports.Free();
        try
        {
            var init = await DbAsync("start", first);
            Assert.True(init.ExitCode == 0, init.StandardError);
            Assert.Contains($"db: started on 127.0.0.1:{first}", init.StandardError);
            Assert.Equal(first, await ServerPortAsync(first));

            var again = await DbAsync("start", first);
            Assert.True(again.ExitCode == 0, again.StandardError);
            Assert.Contains($"db: already running on 127.0.0.1:{first}", again.StandardError);

            // A second checkout on the same port is told whose cluster holds it.
            using (var second = new CheckoutCopy())
            {
                var clash = await second.DbAsync("start", first);
                Assert.Equal(1, clash.ExitCode);
                if (File.Exists("/usr/bin/ss") || File.Exists("/bin/ss"))
                    Assert.StartsWith($"db: port {first} on 127.0.0.1 is already held by the PostgreSQL cluster of {DataDir} (pid ", clash.StandardError);
                Assert.Contains($"not by this checkout's cluster ({second.DataDir})", clash.StandardError);
                Assert.False(second.HasData);
            }

            var next = Ports.Free();
            var elsewhere = await DbAsync("start", next);
            Assert.Equal(1, elsewhere.ExitCode);
            Assert.Contains($"is already running on 127.0.0.1:{first}, not on BILLING_PG_PORT={next}; stop it first", elsewhere.StandardError);

            var stop = await DbAsync("stop", first);
            Assert.True(stop.ExitCode == 0, stop.StandardError);
            var moved = await DbAsync("start", next);
            Assert.True(moved.ExitCode == 0, moved.StandardError);
            Assert.Contains($"db: started on 127.0.0.1:{next}", moved.StandardError);
            Assert.Equal(next, await ServerPortAsync(next));
            Assert.Equal($"Host=127.0.0.1;Port={next};Username=postgres;Database=billing", (await DbAsync("url", next)).StandardOutput.Trim());
        }
        finally
        {
            await DbAsync("stop", first);
        }
    }

    [Theory]
    [InlineData(null, 54329)]
    [InlineData("", 54329)]
    [InlineData("54330", 54330)]
    [InlineData(" 6543 ", 6543)]
    public void The_services_local_database_and_the_tests_local_server_follow_BILLING_PG_PORT(string? value, int port)
    {
        Assert.Equal(port, BillingSettings.LocalPort(value));
        Assert.Equal($"Host=127.0.0.1;Port={port};Username=postgres;Database=billing", BillingSettings.LocalDatabase(value));
        Assert.Equal($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Maximum Pool Size=40", PostgresServer.LocalServer(value));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("-1")]
    public void A_BILLING_PG_PORT_that_is_no_port_is_refused_by_name(string value)
    {
        var e = Assert.Throws<InvalidOperationException>(() => BillingSettings.LocalPort(value));
        Assert.Equal($"BILLING_PG_PORT '{value}' is not a TCP port (1-65535)", e.Message);
    }

    static async Task<int> ServerPortAsync(int port)
    {
        await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false;Timeout=5");
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select inet_server_port()", connection);
        return (int)(await cmd.ExecuteScalarAsync())!;
    }
}
