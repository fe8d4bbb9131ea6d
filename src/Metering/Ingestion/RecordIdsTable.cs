using Marten;
using Npgsql;
using NpgsqlTypes;
using Weasel.Postgresql.Tables;

namespace Billing.Metering.Ingestion;

/// <summary>
/// <c>billing.record_ids</c>: every accepted record id with its content fingerprint, forever (spec 8:
/// no dedupe window). A duplicate is an id found here with the same fingerprint; a conflict, one with
/// another.
/// </summary>
public static class RecordIdsTable
{
    public const string Name = $"{MeteringStore.Schema}.record_ids";

    public static Table Definition()
    {
        var t = new Table(Name);
        t.AddColumn<string>("id").AsPrimaryKey();
        t.AddColumn("fingerprint", "bytea").NotNull();
        return t;
    }

    /// <summary>The fingerprints of those of <paramref name="ids"/> accepted before.</summary>
    public static async Task<Dictionary<string, byte[]>> KnownAsync(NpgsqlConnection connection, IReadOnlyList<string> ids, CancellationToken ct)
    {
        var known = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        if (ids.Count == 0) return known;
        await using var cmd = new NpgsqlCommand($"select id, fingerprint from {Name} where id = any(@ids)", connection);
        cmd.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = ids.ToArray() });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) known[reader.GetString(0)] = (byte[])reader[1];
        return known;
    }

    /// <summary>Queues the newly accepted ids; they commit with the batch's events.</summary>
    public static void Add(IDocumentOperations ops, IReadOnlyList<(string Id, byte[] Fingerprint)> accepted)
    {
        if (accepted.Count == 0) return;
        var ids = new string[accepted.Count];
        var fingerprints = new byte[accepted.Count][];
        for (var i = 0; i < accepted.Count; i++) (ids[i], fingerprints[i]) = accepted[i];
        ops.QueueSqlCommand($"insert into {Name} (id, fingerprint) select * from unnest(?, ?)", ids, fingerprints);
    }

    /// <summary>
    /// Queues the removal of ids accepted no longer (traffic un-billed, spec 8 v1.2), each only while it
    /// still holds the content that was un-billed: such a record is then decided afresh if it comes again,
    /// exactly as if it had arrived after what un-billed it.
    /// </summary>
    public static void Remove(IDocumentOperations ops, IReadOnlyList<(string Id, byte[] Fingerprint)> freed)
    {
        if (freed.Count == 0) return;
        var ids = new string[freed.Count];
        var fingerprints = new byte[freed.Count][];
        for (var i = 0; i < freed.Count; i++) (ids[i], fingerprints[i]) = freed[i];
        ops.QueueSqlCommand($"delete from {Name} r using unnest(?, ?) as u(id, fingerprint) where r.id = u.id and r.fingerprint = u.fingerprint", ids, fingerprints);
    }

    /// <summary>
    /// Whether a failed save was two partitions accepting one record id at once: the later
    /// transaction collides on the primary key, and decided again it finds the id taken.
    /// </summary>
    public static bool IsIdCollision(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation, TableName: "record_ids" }) return true;
        return false;
    }
}
