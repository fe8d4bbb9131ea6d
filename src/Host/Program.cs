// The one place the wall clock is read: everything else is given an IClock, so tests control time.
return await Billing.Host.Cli.RunAsync(args, NodaTime.SystemClock.Instance);
