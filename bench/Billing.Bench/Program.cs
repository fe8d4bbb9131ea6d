using Billing.Bench;
using Billing.Host;
using Spectre.Console.Cli;

// Wolverine discovers handlers (and JasperFx looks for pre-generated code) in the entry assembly, which
// here is billing-bench: the host's assembly is the application, as when `billing` runs.
JasperFx.JasperFxOptions.RememberedApplicationAssembly = typeof(Cli).Assembly;

// `./billing bench [options]` runs this with the options; the same conventions as the host's CLI.
var cli = new CommandLine("billing bench");
var app = new CommandApp<Bench.Command>();
cli.DefaultSettings<Bench.Settings>();
app.Configure(cli.Apply);
app.WithDescription("raw insert vs ingest, replay and close, measured in one run on a database of its own (billing_bench, or BILLING_BENCH_DB)");
return await cli.RunAsync(app, args);
