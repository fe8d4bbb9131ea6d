using Marten;
using Npgsql;
using Weasel.Postgresql.Tables;

namespace Billing.Invoicing.Issuing;

/// <summary>
/// The adapter of <c>billing.invoice_pdfs</c>: each issued invoice's PDF, stored once when it is
/// rendered and never rendered again (the bytes a customer downloaded stay the bytes on file).
/// </summary>
public static class InvoicePdfsTable
{
    public const string Name = $"{Billing.Metering.MeteringStore.Schema}.invoice_pdfs";

    public static Table Definition()
    {
        var pdfs = new Table(Name);
        pdfs.AddColumn("number", "text").AsPrimaryKey();
        pdfs.AddColumn("pdf", "bytea").NotNull();
        return pdfs;
    }

    /// <summary>Queues the PDF of <paramref name="number"/>; a PDF already stored for it is kept.</summary>
    public static void Add(IDocumentOperations ops, string number, byte[] pdf) =>
        ops.QueueSqlCommand($"insert into {Name} (number, pdf) values (?, ?) on conflict (number) do nothing", number, pdf);

    public static async Task<byte[]?> ReadAsync(IQuerySession session, string number, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"select pdf from {Name} where number = @number", (NpgsqlConnection)session.Connection!);
        cmd.Parameters.AddWithValue("number", number);
        return await cmd.ExecuteScalarAsync(ct) as byte[];
    }
}
