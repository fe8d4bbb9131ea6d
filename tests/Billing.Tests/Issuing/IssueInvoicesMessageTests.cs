using System.Text.Json;
using Billing.Events;
using Billing.Host.Features;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using NodaTime;
using NodaTime.Serialization.SystemTextJson;

namespace Billing.Tests.Issuing;

/// <summary>The close's issuing message carries usage and adjustments through the durable queue as JSON, exactly.</summary>
public class IssueInvoicesMessageTests
{
    [Fact]
    public void Usage_and_adjustments_survive_the_queue_exactly()
    {
        var october = new BillingPeriod(2026, 10);
        var usage = new AccountUsage("111122223333", october,
            [new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az1", 744)],
            [new DataProcessedUsage("us-east-1", "Interface", 13_421_772_800m)],
            [new CrossAzUsage("eu-west-1", 536_870_912m)]);
        var adjustment = InvoiceLine.Adjustment(new BillingPeriod(2026, 9),
            InvoiceLine.DataProcessing("us-east-1", "Interface", 1, 4.000000000m, 0.01m), 4.000000000m, 0.04m);
        var message = new IssueInvoices(new BillingPeriod(2026, 10), [new AccountCharges("111122223333", usage, [adjustment])]);

        // Wolverine's serializer settings (BillingHost): System.Text.Json with NodaTime.
        var options = new JsonSerializerOptions().ConfigureForNodaTime(DateTimeZoneProviders.Tzdb);
        var json = JsonSerializer.Serialize(message, options);
        Assert.Contains("\"Period\":\"2026-10\"", json);
        Assert.Contains("\"Adjusts\":\"2026-09\"", json);

        var back = JsonSerializer.Deserialize<IssueInvoices>(json, options)!;
        var charges = Assert.Single(back.Accounts);
        Assert.Equal(("111122223333", october), (charges.Usage.AccountId, charges.Usage.Period));
        Assert.Equal(new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az1", 744), Assert.Single(charges.Usage.EndpointHours));
        Assert.Equal(new DataProcessedUsage("us-east-1", "Interface", 13_421_772_800m), Assert.Single(charges.Usage.DataProcessed));
        Assert.Equal(new CrossAzUsage("eu-west-1", 536_870_912m), Assert.Single(charges.Usage.CrossAz));
        var line = Assert.Single(charges.Adjustments);
        Assert.Equal(adjustment, line);
        Assert.Equal("4.000000000", line.Quantity.ToString(System.Globalization.CultureInfo.InvariantCulture));

        // Priced from the message, the invoice is the one priced from the usage itself.
        Assert.Equal(InvoiceJsonOf(usage, [adjustment]), InvoiceJsonOf(charges.Usage, charges.Adjustments));
    }

    static string InvoiceJsonOf(AccountUsage usage, IReadOnlyList<InvoiceLine> adjustments) =>
        InvoiceJson.Write(Invoice.Issue(InvoiceCalculator.Calculate(usage, PriceBook.Default, "JP", adjustments),
            "INV-2026-000001", "Example Corp", new BillingAddress("1 Main St", null, "Tokyo", "100-0001", "JP"), Instant.FromUtc(2026, 11, 2, 0, 0)));
}
