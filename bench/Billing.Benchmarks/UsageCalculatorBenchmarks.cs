using BenchmarkDotNet.Attributes;
using Billing.Metering;

namespace Billing.Benchmarks;

/// <summary>
/// A month of usage for 100 endpoints in 3 regions, 12 owners and a 13th payer: 2 AZs each (a tenth move AZ
/// part-way, a tenth are deleted), one traffic bucket per hour and AZ plus cross-AZ buckets every
/// fourth hour (about 180,000 buckets), and a payer change mid-hour on every tenth endpoint with
/// the raw records of that hour.
/// </summary>
[MemoryDiagnoser]
public class UsageCalculatorBenchmarks
{
    MeteringInput _input = null!;

    [GlobalSetup]
    public void Setup() => _input = Data.MeteringInput(endpoints: 100, seed: 7);

    [Benchmark]
    public Dictionary<string, AccountUsage> Compute() => UsageCalculator.Compute(_input);
}
