using JasperFx.Events.Projections;
using Billing.Metering;
using Marten;

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
        opts.Schema.For<Closing.CloseFailure>();

        opts.Storage.ExtendedSchemaObjects.Add(InvoiceNumber.Counters());

        opts.Storage.ExtendedSchemaObjects.Add(InvoicePdfsTable.Definition());
    }
}

/// <summary>A period that has been closed: when first and last, and which invoices its latest close asked for.</summary>
public sealed record ClosedPeriod
{
    public string Id { get; init; } = "";
    public NodaTime.Instant ClosedAt { get; init; }
    public NodaTime.Instant LastClosedAt { get; init; }
    public IReadOnlyList<string> AccountsDue { get; init; } = [];

    /// <summary>Who closed it first, and who last: "key:{id}:{name}", "cli:{user}" or "schedule".</summary>
    public string? ClosedBy { get; init; }

    public string? LastClosedBy { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public BillingPeriod Period => BillingPeriod.Parse(Id);
}
