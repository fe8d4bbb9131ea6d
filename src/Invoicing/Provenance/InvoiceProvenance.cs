namespace Billing.Invoicing.Provenance;

/// <summary>
/// What an invoice was priced from (issue 14, docs/provenance.md): the event-store position its usage
/// reflects, the SHA-256 of that usage in its canonical form (<see cref="CanonicalUsage"/>), the price
/// book and the billing rules' code. Enough to recompute the usage later and prove the invoice.
/// </summary>
public sealed record InvoiceProvenance(long EventSequence, string UsageSha256, string PriceBook, string Rules)
{
    /// <summary>The <c>provenance</c> object of the invoice JSON and of the verification report, written alike.</summary>
    public void Write(System.Text.Json.Utf8JsonWriter w, string name = "provenance")
    {
        w.WriteStartObject(name);
        w.WriteNumber("eventSequence", EventSequence);
        w.WriteString("usageSha256", UsageSha256);
        w.WriteString("priceBook", PriceBook);
        w.WriteString("rules", Rules);
        w.WriteEndObject();
    }
}
