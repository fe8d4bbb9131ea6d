return await Billing.Host.Cli.RunAsync(args);
