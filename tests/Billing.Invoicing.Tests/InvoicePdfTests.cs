using System.Text.RegularExpressions;
using Billing.Events;
using Billing.Metering;
using UglyToad.PdfPig.Content;
using static Billing.Invoicing.Tests.Samples;
using PigDocument = UglyToad.PdfPig.PdfDocument;

namespace Billing.Invoicing.Tests;

public class InvoicePdfTests
{
    /// <summary>Each page's words, as PdfPig reads them back (GetWords keeps table cells apart).</summary>
    static List<string[]> Words(byte[] pdf)
    {
        using var doc = PigDocument.Open(pdf);
        return doc.GetPages().Select(p => p.GetWords().Select(w => w.Text).ToArray()).ToList();
    }

    static string PageText(byte[] pdf, int page)
    {
        using var doc = PigDocument.Open(pdf);
        return string.Join(" ", doc.GetPage(page).GetWords().Select(w => w.Text));
    }

    [Fact]
    public void The_number_every_amount_and_the_totals_can_be_read_back()
    {
        var invoice = WorkedExampleInvoice();
        var words = Words(InvoicePdf.Render(invoice, TheSeller)).SelectMany(w => w).ToList();

        Assert.Contains("INV-2026-000042", words);
        foreach (var line in invoice.Lines) Assert.Contains(InvoiceRows.Amount(line.Amount), words);
        Assert.Contains("7.67", words);  // subtotal
        Assert.Contains("0.77", words);  // tax
        Assert.Contains("8.44", words);  // total
        Assert.Contains("744", words);
        Assert.Contains("12.500000000", words);
        Assert.Contains("2026-11-02", words);
        Assert.Contains("USD", words);
    }

    [Fact]
    public void Totals_read_in_order_with_Japanese_tax_rate_and_country()
    {
        var text = PageText(InvoicePdf.Render(WorkedExampleInvoice(), TheSeller), 1);
        Assert.Matches(new Regex(@"Subtotal 7\.67 Consumption tax 10% \(JP\) 0\.77 Total \(USD\) 8\.44"), text);
    }

    [Fact]
    public void Other_countries_show_tax_not_applicable()
    {
        var content = InvoiceCalculator.Calculate(WorkedExample(), PriceBook.Default, "DE");
        var text = PageText(InvoicePdf.Render(Issue(content, "Müller GmbH, Straße", BerlinAddress), TheSeller), 1);
        Assert.Contains("Tax: not applicable 0.00 Total (USD) 7.67", text);
    }

    [Fact]
    public void Japanese_and_German_names_extract_correctly()
    {
        var jp = PageText(InvoicePdf.Render(WorkedExampleInvoice(), TheSeller), 1);
        Assert.Contains("株式会社サンプル", jp);

        var de = Issue(InvoiceCalculator.Calculate(WorkedExample(), PriceBook.Default, "DE"), "Müller GmbH, Straße", BerlinAddress);
        var text = PageText(InvoicePdf.Render(de, TheSeller), 1);
        Assert.Contains("Müller GmbH, Straße", text);
        Assert.Contains("Hauptstraße 5", text);

        var mixed = Issue(InvoiceCalculator.Calculate(WorkedExample(), PriceBook.Default, "JP"), "サンプル Müller 商事 GmbH",
            new BillingAddress("千代田区丸の内1-1", null, "東京都", "100-0001", "JP"));
        var mixedText = PageText(InvoicePdf.Render(mixed, TheSeller), 1);
        Assert.Contains("サンプル Müller 商事 GmbH", mixedText);
        Assert.Contains("千代田区丸の内1-1", mixedText);
    }

    [Fact]
    public void A_300_line_invoice_paginates_with_the_table_header_on_every_page()
    {
        var invoice = ManyLines(300);
        var pdf = InvoicePdf.Render(invoice, TheSeller);
        var pages = Words(pdf);

        Assert.True(pages.Count >= 5, $"{pages.Count} pages");
        for (var i = 0; i < pages.Count; i++)
        {
            var text = string.Join(" ", pages[i]);
            Assert.Contains("Description Quantity Unit Rate (USD) Amount (USD)", text);
            Assert.Contains($"Page {i + 1} of {pages.Count}", text);
            Assert.Contains("INV-2026-000042", text);
        }
        var all = pages.SelectMany(p => p).ToList();
        foreach (var line in invoice.Lines) Assert.Contains(line.AzId!, all); // every line is somewhere
        Assert.Equal(300, all.Count(w => Regex.IsMatch(w, "^az-[0-9]{4}$")));
        var last = string.Join(" ", pages[^1]);
        Assert.Contains($"Total (USD) {InvoiceRows.Amount(invoice.Total)}", last);
    }

    [Fact]
    public void The_same_invoice_renders_to_the_same_bytes()
    {
        var a = InvoicePdf.Render(WorkedExampleInvoice(), TheSeller);
        var b = InvoicePdf.Render(WorkedExampleInvoice(), TheSeller);
        Assert.Equal(a, b);
        var big1 = InvoicePdf.Render(ManyLines(120), TheSeller);
        var big2 = InvoicePdf.Render(ManyLines(120), TheSeller);
        Assert.Equal(big1, big2);
    }

    [Fact]
    public void Rendering_in_parallel_is_safe_and_still_deterministic()
    {
        var expected = InvoicePdf.Render(WorkedExampleInvoice(), TheSeller);
        var results = new byte[8][];
        Parallel.For(0, results.Length, i => results[i] = InvoicePdf.Render(WorkedExampleInvoice(), TheSeller));
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void Dates_in_the_file_are_the_issue_time()
    {
        using var doc = PigDocument.Open(InvoicePdf.Render(WorkedExampleInvoice(), TheSeller));
        Assert.Equal("Invoice INV-2026-000042", doc.Information.Title);
        Assert.StartsWith("D:20261102000000", doc.Information.CreationDate);
    }

    [Fact]
    public void Adjustment_lines_and_a_zero_invoice_render()
    {
        var adjustment = InvoiceLine.Adjustment(new BillingPeriod(2026, 9),
            InvoiceLine.EndpointHours("us-east-1", EndpointType.Interface, "use1-az1", 0, 0.01m), -744, -7.44m);
        var credit = Issue(InvoiceCalculator.Calculate(Usage(), PriceBook.Default, "JP", [adjustment]));
        var text = PageText(InvoicePdf.Render(credit, TheSeller), 1);
        Assert.Contains("Adjustment for 2026-09: Interface endpoint-hours,", text); // the description wraps
        Assert.Contains("-744 hours 0.01 -7.44", text);
        Assert.Contains("Total (USD) -8.18", text);
    }

    /// <summary>
    /// Writes the sample PDFs a person reviews (to INVOICE_SAMPLES when set, else out/invoice-samples/
    /// in the repository) and reads each file back: the figures asserted are computed by hand below.
    /// </summary>
    [Fact]
    public void Samples_for_review()
    {
        var dir = SamplesFolder();
        Directory.CreateDirectory(dir);
        var sept = new BillingPeriod(2026, 9);
        var usage = Usage(
            hours:
            [
                new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az1", 744),
                new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az2", 744),
                new EndpointHoursUsage("us-east-1", EndpointType.GatewayLoadBalancer, "use1-az4", 312),
                new EndpointHoursUsage("ap-northeast-1", EndpointType.Resource, "apne1-az1", 120),
                new EndpointHoursUsage("us-east-1", EndpointType.Gateway, "use1-az1", 744),
            ],
            processed:
            [
                new DataProcessedUsage("us-east-1", "Interface", Bytes(6_242_880.25m)),
                new DataProcessedUsage("us-east-1", "GatewayLoadBalancer", Bytes(1_234.5m)),
                new DataProcessedUsage("ap-northeast-1", "Resource", 13_421_772_800m),
            ],
            crossAz: [new CrossAzUsage("us-east-1", 5_368_709_120m)]);
        var adjustments = new[]
        {
            InvoiceLine.Adjustment(sept, InvoiceLine.EndpointHours("us-east-1", EndpointType.GatewayLoadBalancer, "use1-az4", 0, 0.01m), -24, -0.24m),
            InvoiceLine.Adjustment(sept, InvoiceLine.CrossAzOut("us-east-1", 0, 0.01m), 2.5m, 0.025m),
        };
        var sample = Issue(InvoiceCalculator.Calculate(usage, PriceBook.Default, "JP", adjustments), "株式会社サンプル (Sample K.K.)",
            new BillingAddress("千代田区丸の内1-1-1", "サンプルビル 12F", "東京都", "100-0005", "JP"));
        File.WriteAllBytes(Path.Combine(dir, "sample.pdf"), InvoicePdf.Render(sample, TheSeller));
        File.WriteAllBytes(Path.Combine(dir, "many.pdf"), InvoicePdf.Render(ManyLines(300), TheSeller));
        File.WriteAllText(Path.Combine(dir, "sample.json"), InvoiceJson.Write(sample));

        var longNames = Issue(InvoiceCalculator.Calculate(Usage(hours: [new EndpointHoursUsage("eu-west-1", EndpointType.Interface, "euw1-az1", 1)]), PriceBook.Default, "DE"),
            "Internationale Rechenzentrums- und Netzwerkbetriebsgesellschaft für Cloud-Konnektivität mbH & Co. KG",
            new BillingAddress("Sehr lange Straße mit einem außergewöhnlich langen Namen 123", "Hinterhaus, Aufgang C, 4. Obergeschoss links", "Frankfurt am Main", "60311", "DE"));
        var seller = TheSeller with { Name = "株式会社エグザンプル・コネクティビティ・サービス・ジャパン・ホールディングス" };
        File.WriteAllBytes(Path.Combine(dir, "edge.pdf"), InvoicePdf.Render(longNames, seller));

        // Read back from the files written. sample.pdf, JP: hours 7.44 + 7.44 + 3.12 (us-east-1) + 1.68
        // (120 h x 0.014); Interface processing over three tiers 10,485.76 + 25,165.82 (4,194,304 GB x 0.006
        // = 25,165.824) + 4,000.00 (1,000,000.25 GB x 0.004); GWLB 1,234.5 GB x 0.0035 = 4.32; 12.5 GB x 0.01
        // = 0.125 -> 0.13; cross-AZ 0.05 each way; adjustments -0.24 and 0.025 -> 0.03. Subtotal 39,675.60,
        // tax 10% 3,967.56, total 43,643.16. The Gateway endpoint is free and has no line.
        var samplePage = Assert.Single(Words(File.ReadAllBytes(Path.Combine(dir, "sample.pdf"))));
        var sampleText = string.Join(" ", samplePage);
        Assert.Contains("INV-2026-000042", samplePage);
        Assert.Contains("Data processing, Interface, tier 2 4,194,304.000000000 GB 0.006 25,165.82", sampleText);
        Assert.Contains("Adjustment for 2026-09: Data transfer cross-AZ out 2.500000000 GB 0.01 0.03", sampleText);
        Assert.Contains("Subtotal 39,675.60 Consumption tax 10% (JP) 3,967.56 Total (USD) 43,643.16", sampleText);
        Assert.DoesNotContain("Gateway endpoint-hours", sampleText);
        Assert.Contains("株式会社サンプル", sampleText);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "sample.json")))!;
        Assert.Equal(("INV-2026-000042", "39675.60", "3967.56", "43643.16", 13),
            ((string)json["number"]!, (string)json["subtotal"]!, (string)json["tax"]!, (string)json["total"]!, json["lines"]!.AsArray().Count));

        // many.pdf, DE (no tax): 300 lines of 1..300 hours, rates 0.014 / 0.011 / 0.01 by region, each
        // line rounded to the cent, sum 526.40. The last line is az-0299, 300 h x 0.01 = 3.00.
        var manyPages = Words(File.ReadAllBytes(Path.Combine(dir, "many.pdf")));
        Assert.Equal(9, manyPages.Count);
        Assert.All(manyPages, page => Assert.Contains("INV-2026-000042", page));
        var lastPage = string.Join(" ", manyPages[^1]);
        Assert.Contains("Interface endpoint-hours, az-0299 300 hours 0.01 3.00", lastPage);
        Assert.Contains("Subtotal 526.40 Tax: not applicable 0.00 Total (USD) 526.40", lastPage);
        Assert.Contains("Page 9 of 9", lastPage);

        // edge.pdf: long names wrap but every word is kept; 1 h x 0.011 = 0.01, no tax in DE.
        var edgeText = string.Join(" ", Assert.Single(Words(File.ReadAllBytes(Path.Combine(dir, "edge.pdf")))));
        Assert.Contains("Netzwerkbetriebsgesellschaft", edgeText);
        Assert.Contains("Cloud-Konnektivität mbH & Co. KG", edgeText);
        Assert.Contains("Hinterhaus, Aufgang C, 4. Obergeschoss links", edgeText);
        Assert.Contains("ホールディングス", edgeText);
        Assert.Contains("Interface endpoint-hours, euw1-az1 1 hours 0.011 0.01", edgeText);
        Assert.Contains("Subtotal 0.01 Tax: not applicable 0.00 Total (USD) 0.01", edgeText);
    }

    /// <summary>INVOICE_SAMPLES, or out/invoice-samples/ in the repository (git-ignored).</summary>
    static string SamplesFolder()
    {
        if (Environment.GetEnvironmentVariable("INVOICE_SAMPLES") is { Length: > 0 } dir) return dir;
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Billing.sln"))) root = root.Parent;
        return Path.Combine(root?.FullName ?? throw new InvalidOperationException($"no Billing.sln above {AppContext.BaseDirectory}"), "out", "invoice-samples");
    }
}
