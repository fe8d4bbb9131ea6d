using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Billing.Events;
using Billing.Metering;
using NodaTime.Text;

namespace Billing.Invoicing;

/// <summary>
/// The invoice JSON v1 (spec section 10). Every decimal is a JSON string, so no consumer parses
/// money as a float: quantities "744" (hours) or "12.500000000" (GB, 9 places), rates "0.01",
/// amounts "7.44" (2 places), tax rate "0.10". Besides the spec's keys it carries the bill-to
/// "name" and "billTo" address, and since issue 14 a last key "provenance"
/// (<c>{"eventSequence":123,"usageSha256":"…","priceBook":"sha256:…","rules":"…"}</c>, docs/provenance.md).
/// </summary>
public static class InvoiceJson
{
    static readonly JsonWriterOptions Options = new()
    {
        // Names such as "株式会社サンプル" or "Müller" are written as they are, not as \u escapes.
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    };

    public static string Write(Invoice invoice)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            w.WriteString("number", invoice.Number);
            w.WriteString("accountId", invoice.AccountId);
            w.WriteString("name", invoice.Name);
            w.WritePropertyName("billTo");
            WriteAddress(w, invoice.BillTo);
            w.WriteString("period", invoice.Period.ToString());
            w.WriteString("issuedAt", InstantPattern.ExtendedIso.Format(invoice.IssuedAt));
            w.WriteString("currency", invoice.Currency);
            w.WriteStartArray("lines");
            foreach (var line in invoice.Lines) WriteLine(w, line);
            w.WriteEndArray();
            w.WriteString("subtotal", Money.Format(invoice.Subtotal));
            w.WriteString("taxCountry", invoice.TaxCountry);
            w.WriteString("taxRate", Money.FormatRate(invoice.TaxRate));
            w.WriteString("tax", Money.Format(invoice.Tax));
            w.WriteString("total", Money.Format(invoice.Total));
            // Last, so every key before it stays byte for byte what invoices issued before it had.
            if (invoice.Provenance is { } p)
                p.Write(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>"744" for hours, "12.500000000" for GB.</summary>
    public static string Quantity(InvoiceLine line) =>
        line.Kind == LineKind.EndpointHours
            ? line.Quantity.ToString("0.#########", CultureInfo.InvariantCulture)
            : Gigabytes.Format(line.Quantity);

    /// <summary>One line in the invoice's line shape: month-to-date spend writes its lines with it too.</summary>
    public static void WriteLine(Utf8JsonWriter w, InvoiceLine line)
    {
        w.WriteStartObject();
        w.WriteString("kind", line.WireKind);
        if (line.Adjusts is { } adjusts)
        {
            w.WriteString("adjusts", adjusts.ToString());
            w.WriteString("of", line.Kind.Wire());
        }
        w.WriteString("region", line.Region);
        switch (line.Kind)
        {
            case LineKind.EndpointHours:
                w.WriteString("endpointType", line.EndpointType?.ToString());
                w.WriteString("azId", line.AzId);
                break;
            case LineKind.DataProcessing:
                w.WriteString("pool", line.Pool);
                if (line.Tier is { } tier) w.WriteNumber("tier", tier); else w.WriteNull("tier");
                break;
        }
        w.WriteString("quantity", Quantity(line));
        w.WriteString("unit", line.Unit);
        w.WriteString("rate", Money.FormatRate(line.Rate));
        w.WriteString("amount", Money.Format(line.Amount));
        w.WriteEndObject();
    }

    static void WriteAddress(Utf8JsonWriter w, BillingAddress a)
    {
        w.WriteStartObject();
        w.WriteString("line1", a.Line1);
        w.WriteString("line2", a.Line2);
        w.WriteString("city", a.City);
        w.WriteString("postalCode", a.PostalCode);
        w.WriteString("country", a.Country);
        w.WriteEndObject();
    }

    /// <summary>Reads what <see cref="Write"/> wrote (e.g. a stored issued invoice); throws <see cref="FormatException"/> on anything else.</summary>
    public static Invoice Read(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            var billTo = r.GetProperty("billTo");
            return new Invoice(
                Str(r, "number"),
                Str(r, "accountId"),
                Str(r, "name"),
                new BillingAddress(Str(billTo, "line1"), OptStr(billTo, "line2"), Str(billTo, "city"), OptStr(billTo, "postalCode"), Str(billTo, "country")),
                BillingPeriod.Parse(Str(r, "period")),
                InstantPattern.ExtendedIso.Parse(Str(r, "issuedAt")).GetValueOrThrow(),
                Str(r, "currency"),
                r.GetProperty("lines").EnumerateArray().Select(ReadLine).ToArray().AsReadOnly(),
                Dec(r, "subtotal"),
                Str(r, "taxCountry"),
                Dec(r, "taxRate"),
                Dec(r, "tax"),
                Dec(r, "total"),
                r.TryGetProperty("provenance", out var p)
                    ? new Provenance.InvoiceProvenance(p.GetProperty("eventSequence").GetInt64(), Str(p, "usageSha256"), Str(p, "priceBook"), Str(p, "rules"))
                    : null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException or UnparsableValueException)
        {
            throw new FormatException($"not an invoice JSON v1: {e.Message}", e);
        }
    }

    static InvoiceLine ReadLine(JsonElement l)
    {
        var wire = Str(l, "kind");
        BillingPeriod? adjusts = null;
        if (wire == LineKinds.Adjustment)
        {
            adjusts = BillingPeriod.Parse(Str(l, "adjusts"));
            wire = Str(l, "of");
        }
        var kind = LineKinds.Parse(wire);
        return new InvoiceLine(
            kind,
            Str(l, "region"),
            kind == LineKind.EndpointHours ? Enum.Parse<EndpointType>(Str(l, "endpointType")) : null,
            kind == LineKind.EndpointHours ? Str(l, "azId") : null,
            kind == LineKind.DataProcessing ? Str(l, "pool") : null,
            kind == LineKind.DataProcessing ? l.GetProperty("tier").GetInt32() : null,
            Dec(l, "quantity"),
            Dec(l, "rate"),
            Dec(l, "amount"),
            adjusts);
    }

    static string Str(JsonElement e, string name) =>
        e.GetProperty(name).GetString() ?? throw new FormatException($"\"{name}\" must not be null");

    static string? OptStr(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.GetString() : null;

    static decimal Dec(JsonElement e, string name) =>
        decimal.Parse(Str(e, name), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
}
