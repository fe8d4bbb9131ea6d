using Billing.Metering;

namespace Billing.Host.Features;

/// <summary>
/// `billing generate --out FILE [--accounts N] [--period YYYY-MM] [--records-per-hour K] [--seed S]`:
/// writes a deterministic month of synthetic usage as JSON Lines (for imports and benchmarks).
/// </summary>
public static class GenerateUsage
{
    public static Task<int> RunAsync(CliArgs args, NodaTime.IClock clock)
    {
        var file = args.Option("out") ?? throw new CliException("usage: billing generate --out FILE [--accounts N] [--period YYYY-MM] [--records-per-hour K] [--hours-between-traffic H] [--seed S]");
        var period = args.Option("period") is { } p
            ? (BillingPeriod.TryParse(p, out var parsed) ? parsed : throw new CliException($"'{p}' is not a billing period like 2026-10"))
            : BillingPeriod.Of(clock.GetCurrentInstant()).Previous;
        var synthetic = new SyntheticUsage(period, args.IntOption("accounts", 36), args.IntOption("seed", 42), args.IntOption("records-per-hour", 1), args.IntOption("hours-between-traffic", 1));
        var count = synthetic.WriteJsonLines(file);
        Console.WriteLine($"wrote {count:N0} records for {period} to {file}");
        return Task.FromResult(0);
    }
}
