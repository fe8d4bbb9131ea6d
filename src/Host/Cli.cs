using Billing.Host.Features;
using JasperFx;
using Microsoft.Extensions.Logging;

namespace Billing.Host;

/// <summary>
/// The `billing` command. Every verb runs on the same host wiring as the server; see `billing help`.
/// </summary>
public static class Cli
{
    public const string Help = """
        billing — event-sourced billing and metering for private endpoints

          billing serve                                   HTTP API on BILLING_URLS (default http://127.0.0.1:5080)
          billing import FILE.jsonl                       publish a JSON Lines file onto the bus and wait until every record is decided
          billing usage --account ID --period YYYY-MM [--json]
          billing close --period YYYY-MM                  close a period now (ignoring the grace period) and wait for every invoice
          billing invoices --period YYYY-MM [--json]      the period's invoices (spec section 10 JSON with --json)
          billing invoice pdf NUMBER --out FILE           an issued invoice's PDF
          billing dead-letters list [--code CODE] [--json]  rejected records with their reasons
          billing dead-letters replay --id ID | --all     submit dead letters again through the bus
          billing replay                                  rebuild every projection from the event store
          billing demo [--accounts N] [--period YYYY-MM]  the quick start: a month of synthetic usage through the bus, then a summary
          billing generate --out FILE [--accounts N] [--records-per-hour K] [--period YYYY-MM] [--seed S]
          billing bench [--records N] [--accounts K] [--phases raw,ingest,replay,close] [--bus postgresql|rabbitmq]
                        [--partitions P] [--nodes N] [--json FILE]  raw insert vs ingest, replay and close, on a database of its own
          billing codegen write                           pre-generate Wolverine handler code (JasperFx command line)

        Environment: BILLING_DB (Npgsql connection string; default the project-local cluster of scripts/db.sh),
        BILLING_RABBITMQ (AMQP URI: producers publish raw JSON to the broker's queue `usage`; see docs/producers.md),
        BILLING_INGEST_PARTITIONS (default 4, the same on every node; see docs/scaling.md).
        """;

    /// <remarks>The `billing` script starts the local PostgreSQL only for the verbs that build a host: keep its list in step with this switch.</remarks>
    public static async Task<int> RunAsync(string[] args, NodaTime.IClock clock)
    {
        var verb = args.FirstOrDefault() ?? "serve";
        var rest = new CliArgs(args.Skip(1));
        try
        {
            return verb switch
            {
                "help" or "--help" or "-h" => Print(Help),
                "serve" => await ServeAsync(args.Skip(1).ToArray(), clock),
                "import" => await WithHostAsync(rest, clock, ImportUsage.RunAsync),
                "usage" => await WithHostAsync(rest, clock, QueryUsage.RunAsync),
                "replay" => await WithHostAsync(rest, clock, ReplayProjections.RunAsync, daemon: false),
                "demo" => await WithHostAsync(rest, clock, Demo.RunAsync),
                "generate" => await GenerateUsage.RunAsync(rest, clock),
                "bench" => await Bench.RunAsync(args.Skip(1).ToArray(), clock),
                "close" => await WithHostAsync(rest, clock, CloseCommand.RunAsync),
                "invoices" => await WithHostAsync(rest, clock, QueryInvoices.ListCommandAsync),
                "invoice" => await WithHostAsync(rest, clock, QueryInvoices.PdfCommandAsync),
                "dead-letters" => await WithHostAsync(rest, clock, DeadLetters.RunAsync),
                "codegen" or "describe" or "db-apply" or "db-assert" or "resources" => await JasperFxAsync(args, clock),
                _ => Fail($"unknown verb '{verb}'\n\n{Help}"),
            };
        }
        catch (CliException e)
        {
            return Fail(e.Message);
        }
    }

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"billing: {message}");
        return 2;
    }

    static int Print(string text)
    {
        Console.WriteLine(text);
        return 0;
    }

    static async Task<int> ServeAsync(string[] args, NodaTime.IClock clock)
    {
        var settings = BillingSettings.FromEnvironment() with { RunSchedules = true };
        await Database.EnsureExistsAsync(settings.ConnectionString);
        var app = BuildWebApp(args, settings, clock);
        await app.StartAsync();
        Console.Error.WriteLine($"billing: serving on {string.Join(", ", app.Urls)} (Ctrl-C to stop)");
        await app.WaitForShutdownAsync();
        return 0;
    }

    public static WebApplication BuildWebApp(string[] args, BillingSettings settings, NodaTime.IClock clock)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.WebHost.UseUrls(settings.Urls);
        builder.Logging.SetMinimumLevel(Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("BILLING_LOG_LEVEL"), out var level) ? level : LogLevel.Warning);
        BillingHost.Configure(builder, settings, clock);
        var app = builder.Build();
        StoreUnavailable.Use(app);
        PostUsageEvents.Map(app);
        QueryUsage.Map(app);
        QueryInvoices.Map(app);
        DeadLetters.Map(app);
        return app;
    }

    /// <summary>Runs a verb on a started host without an HTTP listener.</summary>
    static async Task<int> WithHostAsync(CliArgs args, NodaTime.IClock clock, Func<IServiceProvider, CliArgs, CancellationToken, Task<int>> verb, bool daemon = true)
    {
        var settings = BillingSettings.FromEnvironment() with { RunDaemon = daemon };
        await Database.EnsureExistsAsync(settings.ConnectionString);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        BillingHost.Configure(builder, settings, clock);
        using var host = builder.Build();
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        await host.StartAsync(cancel.Token);
        try
        {
            return await verb(host.Services, args, cancel.Token);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    static Task<int> JasperFxAsync(string[] args, NodaTime.IClock clock)
    {
        var settings = BillingSettings.FromEnvironment();
        var builder = WebApplication.CreateBuilder(args);
        BillingHost.Configure(builder, settings, clock);
        return builder.Build().RunJasperFxCommands(args);
    }
}
