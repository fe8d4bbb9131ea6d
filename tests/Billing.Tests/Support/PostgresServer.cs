using System.Diagnostics;
using System.Net.Sockets;
using Billing.Host;
using Npgsql;
using Testcontainers.PostgreSql;

namespace Billing.Tests.Support;

/// <summary>
/// The real PostgreSQL the integration tests run on, one per test run: BILLING_TEST_DB when set;
/// else a Testcontainers PostgreSQL when a Docker engine answers; else the project-local cluster
/// that scripts/db.sh starts, on BILLING_PG_PORT when set (the path CI takes: its machines have no Docker engine). Every test
/// class gets a database of its own, so classes run in parallel without seeing each other.
/// </summary>
public static class PostgresServer
{
    static readonly SemaphoreSlim Gate = new(1, 1);
    static string? _server;
    static PostgreSqlContainer? _container;

    public static async Task<string> CreateDatabaseAsync(string prefix)
    {
        var server = await ServerAsync();
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 63)].ToLowerInvariant();
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Database = "postgres", Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"create database {name}", connection);
        await cmd.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    static async Task<string> ServerAsync()
    {
        await Gate.WaitAsync();
        try
        {
            return _server ??= await StartAsync();
        }
        finally
        {
            Gate.Release();
        }
    }

    static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable("BILLING_TEST_DB") is { Length: > 0 } configured) return configured;
        if (DockerEngineAnswers())
        {
            _container = new PostgreSqlBuilder("postgres:15-alpine").Build();
            await _container.StartAsync();
            return _container.GetConnectionString();
        }
        var script = Path.Combine(RepositoryRoot(), "scripts", "db.sh");
        using var process = Process.Start(new ProcessStartInfo("bash", [script, "start"]) { RedirectStandardError = true })!;
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"scripts/db.sh start failed: {errors}");
        return LocalServer(Environment.GetEnvironmentVariable("BILLING_PG_PORT"));
    }

    /// <summary>The cluster scripts/db.sh starts: on BILLING_PG_PORT (its value here) when set, as the script does.</summary>
    public static string LocalServer(string? pgPort) => BillingSettings.LocalDatabase(pgPort, "postgres") + ";Maximum Pool Size=40";

    static bool DockerEngineAnswers()
    {
        var socket = Environment.GetEnvironmentVariable("DOCKER_HOST") is { } host && host.StartsWith("unix://") ? host[7..] : "/var/run/docker.sock";
        if (!File.Exists(socket)) return false;
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(socket));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Billing.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find Billing.sln above the test binaries");
    }
}
