// The one place the wall clock is read: everything else is given an IClock, so tests control time.
// BILLING_BENCH_CLOCK (an instant) is for `billing bench --nodes N` only: its extra nodes run on the
// benchmark's workload clock, which starts there and advances with the wall clock.
return await Billing.Host.Cli.RunAsync(args,
    Environment.GetEnvironmentVariable("BILLING_BENCH_CLOCK") is { Length: > 0 } start
        ? new Billing.Host.StartedClock(NodaTime.Text.InstantPattern.ExtendedIso.Parse(start).Value)
        : NodaTime.SystemClock.Instance);
