using Billing.Events;
using Billing.Metering;
using NodaTime;

namespace Billing.Invoicing.Tests;

/// <summary>Usage, invoices and a seller to test with.</summary>
static class Samples
{
    public const decimal BytesPerGb = 1_073_741_824m;
    public static readonly BillingPeriod October2026 = new(2026, 10);
    public static readonly Instant IssuedAt = Instant.FromUtc(2026, 11, 2, 0, 0, 0);

    public static readonly BillingAddress TokyoAddress = new("1-1 Marunouchi", null, "Tokyo", "100-0001", "JP");
    public static readonly BillingAddress BerlinAddress = new("Hauptstraße 5", "3. OG", "Berlin", "10115", "DE");

    public static readonly Seller TheSeller = new(
        "Example Connectivity K.K.", new BillingAddress("2-2-2 Otemachi", "Example Tower 20F", "Tokyo", "100-0004", "JP"),
        TaxRegistration: "T1234567890123", Contact: "billing@example.com");

    public static decimal Bytes(decimal gb) => gb * BytesPerGb;

    public static AccountUsage Usage(
        BillingPeriod? period = null,
        IEnumerable<EndpointHoursUsage>? hours = null,
        IEnumerable<DataProcessedUsage>? processed = null,
        IEnumerable<CrossAzUsage>? crossAz = null) =>
        new("111122223333", period ?? October2026, (hours ?? []).ToList(), (processed ?? []).ToList(), (crossAz ?? []).ToList());

    /// <summary>Spec section 10's worked example, from bytes: 744 h, 12.5 GB processed, 5 GB cross-AZ.</summary>
    public static AccountUsage WorkedExample(BillingPeriod? period = null) => Usage(
        period,
        hours: [new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az1", 744)],
        processed: [new DataProcessedUsage("us-east-1", "Interface", 13_421_772_800m)],
        crossAz: [new CrossAzUsage("us-east-1", 5_368_709_120m)]);

    public static Invoice Issue(InvoiceContent content, string name = "株式会社サンプル", BillingAddress? billTo = null, string number = "INV-2026-000042") =>
        Invoice.Issue(content, number, name, billTo ?? TokyoAddress, IssuedAt);

    public static Invoice WorkedExampleInvoice() =>
        Issue(InvoiceCalculator.Calculate(WorkedExample(), PriceBook.Default, "JP"));

    /// <summary>An invoice of <paramref name="count"/> endpoint-hour lines over three regions.</summary>
    public static Invoice ManyLines(int count, string name = "Müller GmbH, Straße", BillingAddress? billTo = null)
    {
        string[] regions = ["ap-northeast-1", "eu-west-1", "us-east-1"];
        var hours = Enumerable.Range(0, count)
            .Select(i => new EndpointHoursUsage(regions[i % 3], EndpointType.Interface, $"az-{i:D4}", 1 + i % 744))
            .ToList();
        return Issue(InvoiceCalculator.Calculate(Usage(hours: hours), PriceBook.Default, billTo?.Country ?? "DE"), name, billTo ?? BerlinAddress);
    }
}
