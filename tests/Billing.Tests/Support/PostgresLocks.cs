using Npgsql;

namespace Billing.Tests.Support;

/// <summary>
/// Real failures made in PostgreSQL itself: a database whose sessions give up waiting for a lock, and
/// a lock the test holds. A write that must wait for it fails with "55P03: canceling statement due to
/// lock timeout", exactly as in production when something holds a table; no code of the service is stubbed.
/// </summary>
public static class PostgresLocks
{
    /// <summary>A database of the test's own whose sessions give up waiting for a lock after <paramref name="lockTimeout"/>.</summary>
    public static async Task<string> DatabaseWithLockTimeoutAsync(string prefix, string lockTimeout = "1s")
    {
        var db = await PostgresServer.CreateDatabaseAsync(prefix);
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"alter database {new NpgsqlConnectionStringBuilder(db).Database} set lock_timeout = '{lockTimeout}'", connection);
        await cmd.ExecuteNonQueryAsync();
        return db;
    }

    /// <summary>An open transaction holding <c>lock table {table} in exclusive mode</c> (reads pass, writes wait); disposing it lets go.</summary>
    public static async Task<NpgsqlConnection> HoldAsync(string db, string table)
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(db) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand($"set lock_timeout = 0; begin; lock table {table} in exclusive mode", connection);
        await cmd.ExecuteNonQueryAsync();
        return connection;
    }
}
