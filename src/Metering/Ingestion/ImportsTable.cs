using Marten;
using Npgsql;
using Weasel.Postgresql.Tables;

namespace Billing.Metering.Ingestion;

/// <summary><c>billing.imports</c>: per import (`billing import`), how many records it has and how many have been decided so far.</summary>
public static class ImportsTable
{
    public const string Name = $"{MeteringStore.Schema}.imports";

    public static Table Definition()
    {
        var t = new Table(Name);
        t.AddColumn<Guid>("id").AsPrimaryKey();
        t.AddColumn<long>("expected").NotNull();
        t.AddColumn<long>("accepted").NotNull().DefaultValue(0);
        t.AddColumn<long>("duplicates").NotNull().DefaultValue(0);
        t.AddColumn<long>("rejected").NotNull().DefaultValue(0);
        return t;
    }

    public static async Task StartAsync(string connectionString, Guid importId, long expected, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var insert = new NpgsqlCommand($"insert into {Name} (id, expected) values (@id, @expected)", connection);
        insert.Parameters.AddWithValue("id", importId);
        insert.Parameters.AddWithValue("expected", expected);
        await insert.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Queues a batch's counts; they commit with its decisions.</summary>
    public static void AddDecided(IDocumentOperations ops, Guid importId, long accepted, long duplicates, long rejected) =>
        ops.QueueSqlCommand($"update {Name} set accepted = accepted + ?, duplicates = duplicates + ?, rejected = rejected + ? where id = ?",
            accepted, duplicates, rejected, importId);

    public static async Task<(long Accepted, long Duplicates, long Rejected)> CountsAsync(string connectionString, Guid importId, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand($"select accepted, duplicates, rejected from {Name} where id = @id", connection);
        cmd.Parameters.AddWithValue("id", importId);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }
}
