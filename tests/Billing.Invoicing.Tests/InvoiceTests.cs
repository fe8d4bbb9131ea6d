using static Billing.Invoicing.Tests.Samples;

namespace Billing.Invoicing.Tests;

public class InvoiceTests
{
    [Fact]
    public void Numbers_are_INV_year_and_six_digits()
    {
        Assert.Equal("INV-2026-000042", InvoiceNumber.Format(2026, 42));
        Assert.Equal("INV-2027-999999", InvoiceNumber.Format(2027, 999_999));
        Assert.Throws<ArgumentOutOfRangeException>(() => InvoiceNumber.Format(2026, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => InvoiceNumber.Format(2026, 1_000_000));
        Assert.True(InvoiceNumber.TryParse("INV-2026-000042", out var year, out var sequence));
        Assert.Equal((2026, 42), (year, sequence));
        Assert.False(InvoiceNumber.TryParse("INV-2026-00042", out _, out _));
        Assert.False(InvoiceNumber.TryParse("INV-2026-000000", out _, out _));
    }

    [Fact]
    public void An_invoice_is_numbered_in_its_year_of_issue()
    {
        var content = InvoiceCalculator.Calculate(WorkedExample(), PriceBook.Default, "JP");
        var e = Assert.Throws<ArgumentException>(() => Invoice.Issue(content, "INV-2025-000001", "X", TokyoAddress, IssuedAt));
        Assert.StartsWith("invoice number INV-2025-000001 is not of the year of issue 2026", e.Message);
        Assert.Throws<ArgumentException>(() => Invoice.Issue(content, "2026-1", "X", TokyoAddress, IssuedAt));
    }

    [Fact]
    public void Issuing_copies_the_content()
    {
        var invoice = WorkedExampleInvoice();
        Assert.Equal(("INV-2026-000042", "111122223333", "株式会社サンプル", October2026, IssuedAt, "USD"),
            (invoice.Number, invoice.AccountId, invoice.Name, invoice.Period, invoice.IssuedAt, invoice.Currency));
        Assert.Equal((7.67m, "JP", 0.10m, 0.77m, 8.44m), (invoice.Subtotal, invoice.TaxCountry, invoice.TaxRate, invoice.Tax, invoice.Total));
        Assert.Equal(4, invoice.Lines.Count);
        Assert.True(invoice.TaxApplies);
    }
}

public class TextRunTests
{
    [Fact]
    public void Japanese_runs_are_split_from_Latin_ones_and_spaces_stay_in_their_run()
    {
        Assert.Equal([("株式会社サンプル ", true), ("(Sample K.K.)", false)], TextRuns.Split("株式会社サンプル (Sample K.K.)"));
        Assert.Equal([("Müller GmbH, Straße", false)], TextRuns.Split("Müller GmbH, Straße"));
        Assert.Equal([("100-0005 ", false), ("東京都", true)], TextRuns.Split("100-0005 東京都"));
        Assert.Empty(TextRuns.Split(""));
    }
}
