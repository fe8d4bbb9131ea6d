using BenchmarkDotNet.Attributes;
using Billing.Invoicing;
using Billing.Metering;

namespace Billing.Benchmarks;

/// <summary>Pricing one account's usage with <see cref="PriceBook.Default"/> and Japanese tax.</summary>
[MemoryDiagnoser]
public class InvoiceCalculatorBenchmarks
{
    /// <summary>Usage rows in the account's usage (endpoint-hours, data processed, cross-AZ).</summary>
    [Params(10, 300)]
    public int Rows { get; set; }

    AccountUsage _usage = null!;
    PriceBook _priceBook = null!;

    [GlobalSetup]
    public void Setup()
    {
        _usage = Data.AccountUsage(Rows);
        _priceBook = PriceBook.Default; // loaded once here, not in the measurement
    }

    [Benchmark]
    public InvoiceContent Calculate() => InvoiceCalculator.Calculate(_usage, _priceBook, "JP");
}
