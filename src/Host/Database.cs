using Npgsql;

namespace Billing.Host;

/// <summary>Creates the service's database when it does not exist yet; Marten creates and migrates the schema inside it.</summary>
public static class Database
{
    public static async Task EnsureExistsAsync(string connectionString, CancellationToken ct = default)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var name = target.Database ?? throw new InvalidOperationException("BILLING_DB must name a database (Database=...)");
        var maintenance = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false };
        try
        {
            await using var connection = new NpgsqlConnection(maintenance.ConnectionString);
            await connection.OpenAsync(ct);
            await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = @name", connection);
            exists.Parameters.AddWithValue("name", name);
            if (await exists.ExecuteScalarAsync(ct) is not null) return;
            await using var create = new NpgsqlCommand($"create database \"{name.Replace("\"", "\"\"")}\"", connection);
            try { await create.ExecuteNonQueryAsync(ct); }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase) { }
        }
        catch (NpgsqlException e) when (e is not PostgresException)
        {
            throw new InvalidOperationException(
                $"cannot reach PostgreSQL at {target.Host}:{target.Port} ({e.Message}). " +
                "Start the project-local cluster with scripts/db.sh start, or set BILLING_DB.", e);
        }
    }
}

/// <summary>
/// Stores invoice PDFs uncompressed out of line (STORAGE EXTERNAL). A PDF is Flate-compressed
/// already, so PostgreSQL's default compression of each value only costs time, for the same size on
/// disk (the figures: docs/performance.md, "Figures behind the code's comments"). Weasel
/// does not model column storage, so it is set once at start, after Marten has created the table
/// (a hosted service registered after Marten's), and only when it is not set yet.
/// </summary>
sealed class InvoicePdfStorage(BillingSettings settings) : IHostedService
{
    public async Task StartAsync(CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(settings.ConnectionString);
        await connection.OpenAsync(ct);
        await using var check = new NpgsqlCommand(
            $"select attstorage::text from pg_attribute where attrelid = to_regclass('{Billing.Invoicing.Issuing.InvoicePdfsTable.Name}') and attname = 'pdf'", connection);
        if (await check.ExecuteScalarAsync(ct) is not string storage || storage == "e") return;
        await using var alter = new NpgsqlCommand($"alter table {Billing.Invoicing.Issuing.InvoicePdfsTable.Name} alter column pdf set storage external", connection);
        await alter.ExecuteNonQueryAsync(ct);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
