using System.Text.Json;
using Billing.Events;
using Billing.Metering;
using static Billing.Invoicing.Tests.Samples;

namespace Billing.Invoicing.Tests;

public class InvoiceJsonTests
{
    static JsonElement Parse(Invoice invoice) => JsonDocument.Parse(InvoiceJson.Write(invoice)).RootElement.Clone();

    static string S(JsonElement e, string name) => e.GetProperty(name).GetString()!;

    [Fact]
    public void Worked_example_has_the_shape_of_spec_section_10()
    {
        var json = Parse(WorkedExampleInvoice());

        Assert.Equal(
            ["number", "accountId", "name", "billTo", "period", "issuedAt", "currency", "lines", "subtotal", "taxCountry", "taxRate", "tax", "total"],
            json.EnumerateObject().Select(p => p.Name));
        Assert.Equal("INV-2026-000042", S(json, "number"));
        Assert.Equal("111122223333", S(json, "accountId"));
        Assert.Equal("株式会社サンプル", S(json, "name"));
        Assert.Equal("2026-10", S(json, "period"));
        Assert.Equal("2026-11-02T00:00:00Z", S(json, "issuedAt"));
        Assert.Equal("USD", S(json, "currency"));
        Assert.Equal("7.67", S(json, "subtotal"));
        Assert.Equal("JP", S(json, "taxCountry"));
        Assert.Equal("0.10", S(json, "taxRate"));
        Assert.Equal("0.77", S(json, "tax"));
        Assert.Equal("8.44", S(json, "total"));

        var billTo = json.GetProperty("billTo");
        Assert.Equal(("1-1 Marunouchi", "Tokyo", "100-0001", "JP"), (S(billTo, "line1"), S(billTo, "city"), S(billTo, "postalCode"), S(billTo, "country")));
        Assert.Equal(JsonValueKind.Null, billTo.GetProperty("line2").ValueKind);

        var lines = json.GetProperty("lines").EnumerateArray().Select(l => l.GetRawText()).ToArray();
        Assert.Equal(
            [
                """{"kind":"endpoint-hours","region":"us-east-1","endpointType":"Interface","azId":"use1-az1","quantity":"744","unit":"hours","rate":"0.01","amount":"7.44"}""",
                """{"kind":"data-processing","region":"us-east-1","pool":"Interface","tier":1,"quantity":"12.500000000","unit":"GB","rate":"0.01","amount":"0.13"}""",
                """{"kind":"cross-az-out","region":"us-east-1","quantity":"5.000000000","unit":"GB","rate":"0.01","amount":"0.05"}""",
                """{"kind":"cross-az-in","region":"us-east-1","quantity":"5.000000000","unit":"GB","rate":"0.01","amount":"0.05"}""",
            ],
            lines);
    }

    [Fact]
    public void Adjustment_lines_name_the_period_and_the_kind_they_adjust()
    {
        var adjustment = InvoiceLine.Adjustment(new BillingPeriod(2026, 9),
            InvoiceLine.DataProcessing("us-east-1", "Interface", 2, 0, 0.006m), -1.5m, -0.009m);
        var invoice = Issue(InvoiceCalculator.Calculate(WorkedExample(), PriceBook.Default, "JP", [adjustment]));
        var last = Parse(invoice).GetProperty("lines").EnumerateArray().Last().GetRawText();
        Assert.Equal(
            """{"kind":"adjustment","adjusts":"2026-09","of":"data-processing","region":"us-east-1","pool":"Interface","tier":2,"quantity":"-1.500000000","unit":"GB","rate":"0.006","amount":"-0.01"}""",
            last);
    }

    [Theory]
    [InlineData("DE", 2026, "0.00", "0.00", "7.67")]
    [InlineData("JP", 2019, "0.08", "0.61", "8.28")]
    public void Tax_rates_and_money_are_strings_with_fixed_places(string country, int year, string rate, string tax, string total)
    {
        var period = new BillingPeriod(year, 9);
        var content = InvoiceCalculator.Calculate(WorkedExample(period), PriceBook.Default, country);
        var invoice = Invoice.Issue(content, $"INV-{year}-000001", "Müller GmbH, Straße", BerlinAddress, NodaTime.Instant.FromUtc(year, 10, 1, 12, 30, 15));
        var json = Parse(invoice);
        Assert.Equal((rate, tax, total), (S(json, "taxRate"), S(json, "tax"), S(json, "total")));
        Assert.Equal($"{year}-10-01T12:30:15Z", S(json, "issuedAt"));
        Assert.Equal("Müller GmbH, Straße", S(json, "name"));
        Assert.Equal("3. OG", S(json.GetProperty("billTo"), "line2"));
    }

    [Fact]
    public void Names_are_written_as_UTF_8_not_escaped()
    {
        var text = InvoiceJson.Write(WorkedExampleInvoice());
        Assert.Contains("\"name\":\"株式会社サンプル\"", text);
    }

    [Fact]
    public void Read_gives_back_what_Write_wrote()
    {
        var adjustment = InvoiceLine.Adjustment(new BillingPeriod(2026, 9),
            InvoiceLine.EndpointHours("eu-west-1", EndpointType.GatewayLoadBalancer, "euw1-az1", 0, 0.011m), -3, -0.033m);
        var original = Issue(InvoiceCalculator.Calculate(WorkedExample(), PriceBook.Default, "JP", [adjustment]));
        var read = InvoiceJson.Read(InvoiceJson.Write(original));
        Assert.Equal(original with { Lines = [] }, read with { Lines = [] });
        Assert.Equal(original.Lines, read.Lines);
        Assert.Equal(InvoiceJson.Write(original), InvoiceJson.Write(read));
    }

    [Fact]
    public void Read_refuses_what_is_not_an_invoice()
    {
        Assert.Throws<FormatException>(() => InvoiceJson.Read("""{"number":"INV-2026-000001"}"""));
        Assert.Throws<FormatException>(() => InvoiceJson.Read("not json"));
    }
}
