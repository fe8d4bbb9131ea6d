using System.ComponentModel;
using Billing.Metering;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// `billing generate --out FILE [--accounts N] [--period YYYY-MM] [--records-per-hour K] [--seed S]`:
/// writes a deterministic month of synthetic usage as JSON Lines (for imports and benchmarks).
/// </summary>
public static class GenerateUsage
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--out <FILE>", isRequired: true), Description("the JSON Lines file to write")]
        public string? Out { get; init; }

        [CommandOption("--accounts <N>"), Description("synthetic accounts"), DefaultValue(36), Positive]
        public int Accounts { get; init; } = 36;

        [CommandOption("--records-per-hour <K>"), Description("traffic records per endpoint, AZ and hour"), DefaultValue(1), Positive]
        public int RecordsPerHour { get; init; } = 1;

        [CommandOption("--hours-between-traffic <H>"), Description("traffic every H hours"), DefaultValue(1), Positive]
        public int HoursBetweenTraffic { get; init; } = 1;

        [CommandOption("--period <YYYY-MM>"), Description("the billing period; default last month")]
        public string? Period { get; init; }

        [CommandOption("--seed <S>"), Description("the random seed: the same seed, the same file"), DefaultValue(42), Positive]
        public int Seed { get; init; } = 42;
    }

    public static Task<int> RunAsync(Settings args, NodaTime.IClock clock)
    {
        var file = args.Out ?? throw new CliException("usage: billing generate --out FILE [--accounts N] [--period YYYY-MM] [--records-per-hour K] [--hours-between-traffic H] [--seed S]");
        var period = args.Period is { } p
            ? (BillingPeriod.TryParse(p, out var parsed) ? parsed : throw new CliException($"'{p}' is not a billing period like 2026-10"))
            : BillingPeriod.Of(clock.GetCurrentInstant()).Previous;
        var synthetic = new SyntheticUsage(period, args.Accounts, args.Seed, args.RecordsPerHour, args.HoursBetweenTraffic);
        var count = synthetic.WriteJsonLines(file);
        Console.WriteLine($"wrote {count:N0} records for {period} to {file}");
        return Task.FromResult(0);
    }
}
