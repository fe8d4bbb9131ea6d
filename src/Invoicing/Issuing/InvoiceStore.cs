using JasperFx.Events.Projections;
using Marten;
using Weasel.Postgresql.Tables;

namespace Billing.Invoicing.Issuing;

/// <summary>How invoices live in Marten: the issued-invoice read model, the per-year number
/// counters and the rendered PDFs (stored once, at issue, never re-rendered).</summary>
public static class InvoiceStore
{
    public static void Configure(StoreOptions opts)
    {
        opts.Projections.Snapshot<IssuedInvoice>(SnapshotLifecycle.Inline);
        opts.Schema.For<IssuedInvoice>().Index(x => x.Number, i => i.IsUnique = true).Index(x => x.Period);
        opts.Schema.For<ClosedPeriod>();

        opts.Storage.ExtendedSchemaObjects.Add(InvoiceNumber.Counters());

        var pdfs = new Table($"{InvoiceIssuer.Schema}.invoice_pdfs");
        pdfs.AddColumn("number", "text").AsPrimaryKey();
        pdfs.AddColumn("pdf", "bytea").NotNull();
        opts.Storage.ExtendedSchemaObjects.Add(pdfs);
    }
}

/// <summary>A period that has been closed: when, and which invoices its latest close asked for.</summary>
public sealed class ClosedPeriod
{
    public string Id { get; set; } = "";
    public NodaTime.Instant ClosedAt { get; set; }
    public NodaTime.Instant LastClosedAt { get; set; }
    public List<string> AccountsDue { get; set; } = [];
}
