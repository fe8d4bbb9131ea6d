using Marten;
using Npgsql;
using Weasel.Postgresql.Tables;

namespace Billing.Metering.Ingestion;

/// <summary>
/// <c>billing.imports</c> and <c>billing.import_decisions</c>: per import (`billing import`, a
/// dead-letter replay), how many records it has, and per decided batch how many of them were
/// accepted, duplicates or rejected. A row per batch rather than one counter per import: the
/// partitions decide an import's batches side by side, and one counter row made every partition's
/// transaction wait for the others' to commit (docs/performance.md has the figure).
/// </summary>
public static class ImportsTable
{
    public const string Name = $"{MeteringStore.Schema}.imports";
    public const string Decisions = $"{MeteringStore.Schema}.import_decisions";

    public static IEnumerable<Table> Definitions()
    {
        var imports = new Table(Name);
        imports.AddColumn<Guid>("id").AsPrimaryKey();
        imports.AddColumn<long>("expected").NotNull();
        yield return imports;

        var decisions = new Table(Decisions);
        decisions.AddColumn<Guid>("import_id").NotNull();
        decisions.AddColumn<long>("accepted").NotNull();
        decisions.AddColumn<long>("duplicates").NotNull();
        decisions.AddColumn<long>("rejected").NotNull();
        decisions.Indexes.Add(new IndexDefinition("idx_import_decisions_import") { Columns = ["import_id"] });
        yield return decisions;
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

    /// <summary>Queues the start of an import on a session (it commits with whatever the import sends).</summary>
    public static void Start(IDocumentOperations ops, Guid importId, long expected) =>
        ops.QueueSqlCommand($"insert into {Name} (id, expected) values (?, ?)", importId, expected);

    /// <summary>Queues a batch's counts; they commit with its decisions.</summary>
    public static void AddDecided(IDocumentOperations ops, Guid importId, long accepted, long duplicates, long rejected) =>
        ops.QueueSqlCommand($"insert into {Decisions} (import_id, accepted, duplicates, rejected) values (?, ?, ?, ?)",
            importId, accepted, duplicates, rejected);

    public static async Task<(long Accepted, long Duplicates, long Rejected)> CountsAsync(string connectionString, Guid importId, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(
            $"select coalesce(sum(accepted), 0)::bigint, coalesce(sum(duplicates), 0)::bigint, coalesce(sum(rejected), 0)::bigint from {Decisions} where import_id = @id", connection);
        cmd.Parameters.AddWithValue("id", importId);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>Every import with its counts so far, oldest first (import ids are UUIDv7).</summary>
    public static async Task<List<(Guid Id, long Expected, long Accepted, long Duplicates, long Rejected)>> AllAsync(string connectionString, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand($"""
            select i.id, i.expected, coalesce(sum(d.accepted), 0)::bigint, coalesce(sum(d.duplicates), 0)::bigint, coalesce(sum(d.rejected), 0)::bigint
            from {Name} i left join {Decisions} d on d.import_id = i.id group by i.id, i.expected order by i.id
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<(Guid, long, long, long, long)>();
        while (await reader.ReadAsync(ct)) rows.Add((reader.GetGuid(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4)));
        return rows;
    }
}
