using BenchmarkDotNet.Attributes;
using Billing.Invoicing;

namespace Billing.Benchmarks;

/// <summary>Rendering an issued invoice as PDF: a 1-page invoice and a 23-page one.</summary>
[MemoryDiagnoser]
public class InvoicePdfBenchmarks
{
    /// <summary>Invoice lines: 6 fit on one page; 700 (697 endpoint-hour lines over 3 regions) take 23 pages.</summary>
    [Params(6, 700)]
    public int Lines { get; set; }

    Invoice _invoice = null!;

    [GlobalSetup]
    public void Setup()
    {
        _invoice = Data.Invoice(Lines);
        InvoicePdf.Render(_invoice, Data.Seller); // registers the fonts and loads them once, outside the measurement
    }

    [Benchmark]
    public byte[] Render() => InvoicePdf.Render(_invoice, Data.Seller);
}
