using Billing.Metering;
using JasperFx.Events;
using NodaTime;

namespace Billing.Invoicing.Issuing;

/// <summary>
/// An invoice was issued: the event in the invoice's own stream ("invoice/{accountId}/{period}").
/// It carries the invoice exactly as issued (its JSON, spec section 10) and the SHA-256 of its PDF,
/// so the issued invoice can be rebuilt from the event store and never recomputed.
/// </summary>
public sealed record InvoiceIssued(string Number, string AccountId, string Period, Instant IssuedAt, decimal Total, string Json, string PdfSha256);

/// <summary>
/// An issued invoice's PDF was rendered and stored: the event that follows <see cref="InvoiceIssued"/>
/// in the invoice's stream, since the PDF is rendered after the invoice's number is committed.
/// Invoices issued before that (their <see cref="InvoiceIssued.PdfSha256"/> set) have none.
/// </summary>
public sealed record InvoicePdfRendered(string Number, string PdfSha256);

/// <summary>An issued invoice as read by the API and the CLI; immutable once written, except that its PDF's hash arrives once, after it.</summary>
public sealed class IssuedInvoice
{
    public string Id { get; set; } = "";
    public string Number { get; set; } = "";
    public string AccountId { get; set; } = "";
    public string Period { get; set; } = "";
    public Instant IssuedAt { get; set; }
    public decimal Total { get; set; }
    public string Json { get; set; } = "";
    public string PdfSha256 { get; set; } = "";

    /// <summary>Whether the PDF is stored yet: it is rendered just after the invoice is issued.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool HasPdf => PdfSha256.Length > 0;

    public static string StreamKey(string accountId, BillingPeriod period) => $"invoice/{accountId}/{period}";

    public static IssuedInvoice Create(IEvent<InvoiceIssued> e) => new()
    {
        Id = e.StreamKey!,
        Number = e.Data.Number,
        AccountId = e.Data.AccountId,
        Period = e.Data.Period,
        IssuedAt = e.Data.IssuedAt,
        Total = e.Data.Total,
        Json = e.Data.Json,
        PdfSha256 = e.Data.PdfSha256,
    };

    public void Apply(InvoicePdfRendered e) => PdfSha256 = e.PdfSha256;
}
