using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Host.Features;
using Billing.Host.Operations;
using Billing.Host.WebConsole;
using JasperFx;
using Marten;
using Microsoft.Extensions.Logging;
using Spectre.Console.Cli;

namespace Billing.Host;

/// <summary>
/// The `billing` command on Spectre.Console.Cli. Each verb is a settings class in its feature's file
/// (options, descriptions, hence its `--help`) and a method run on the same host wiring as the server.
/// JasperFx's own command line keeps its verbs (<see cref="JasperFxVerbs"/>).
/// </summary>
public static class Cli
{
    /// <summary>The verbs of JasperFx's command line: handed to RunJasperFxCommands untouched, before Spectre parses anything.</summary>
    public static readonly IReadOnlyList<string> JasperFxVerbs = ["codegen", "describe", "db-apply", "db-assert", "resources", "projections"];

    const string Header = "billing — event-sourced billing and metering for private endpoints";

    const string Footer = """
        No verb means serve; `billing help VERB` is `billing VERB --help`.
        Environment (the others in the README):
          BILLING_DB                 Npgsql connection string; default the project-local cluster of scripts/db.sh
          BILLING_RABBITMQ           AMQP URI: producers publish raw JSON to the broker's queue `usage` (docs/producers.md)
          BILLING_INGEST_PARTITIONS  default 4, the same on every node (docs/scaling.md)
        """;

    /// <remarks>The `billing` script starts the local PostgreSQL only for the verbs that build a host: keep its list in step with these.</remarks>
    public static async Task<int> RunAsync(string[] args, NodaTime.IClock clock)
    {
        args = args switch
        {
            [] => ["serve"],
            ["help", .. var verb] => [.. verb, "--help"],
            _ => args,
        };
        if (JasperFxVerbs.Contains(args[0])) return await JasperFxAsync(args, clock);
        if (args[0] == "bench") return CommandLine.Fail("the bench is not part of the production host: ./billing bench runs bench/Billing.Bench");
        var cli = new CommandLine("billing", Header, Footer);
        var app = new CommandApp();
        app.Configure(config => Configure(config, cli, clock));
        return await cli.RunAsync(app, args);
    }

    static void Configure(IConfigurator config, CommandLine cli, NodaTime.IClock clock)
    {
        cli.Apply(config);
        cli.Verb<EmptyCommandSettings>(config, "serve", (_, _) => ServeAsync(clock))
            .WithDescription("HTTP API on BILLING_URLS (default http://127.0.0.1:5080), bus listener and projection daemon");
        cli.Verb<ImportUsage.Settings>(config, "import", (s, _) => WithHostAsync(clock, (services, ct) => ImportUsage.RunAsync(services, s, ct)))
            .WithDescription("publish a JSON Lines file onto the bus; wait until every record is decided and projected")
            .WithExample("import", "usage.jsonl");
        cli.Verb<QueryUsage.Settings>(config, "usage", (s, _) => WithHostAsync(clock, (services, ct) => QueryUsage.RunAsync(services, s, ct)))
            .WithDescription("an account's usage in a period (as payer; cross-AZ as owner)")
            .WithExample("usage", "--account", "111122223333", "--period", "2026-10", "--json");
        cli.Verb<QuerySpend.Settings>(config, "spend", (s, _) => WithHostAsync(clock, (services, ct) => QuerySpend.RunAsync(services, s, ct)))
            .WithDescription("an account's month-to-date cost and its forecast (an estimate) to the period's end")
            .WithExample("spend", "--account", "111122223333", "--period", "2026-10", "--json");
        cli.Verb<CloseCommand.Settings>(config, "close", (s, _) => WithHostAsync(clock, (services, ct) => CloseCommand.RunAsync(services, s, ct)))
            .WithDescription("close a period now (ignoring the grace period) and wait for every invoice");
        cli.Verb<RerateCommand.Settings>(config, "rerate", (s, _) => WithHostAsync(clock, (services, ct) => RerateCommand.RunAsync(services, s, ct)))
            .WithDescription("what-if: a period's usage priced under another price book, next to what was charged")
            .WithExample("rerate", "--period", "2026-10", "--pricebook", "new-prices.json", "--json");
        cli.Verb<QueryInvoices.ListSettings>(config, "invoices", (s, _) => WithHostAsync(clock, (services, ct) => QueryInvoices.ListCommandAsync(services, s, ct)))
            .WithDescription("the period's invoices (spec section 10 JSON each with --json)");
        config.AddBranch("invoice", invoice =>
        {
            invoice.SetDescription("an issued invoice: invoice pdf NUMBER --out FILE | invoice verify NUMBER [[--json]]");
            invoice.SetDefaultCommand<MissingVerb>();
            cli.Verb<QueryInvoices.PdfSettings>(invoice, "invoice pdf", (s, _) => WithHostAsync(clock, (services, ct) => QueryInvoices.PdfCommandAsync(services, s, ct)))
                .WithDescription("an issued invoice's PDF, exactly as issued")
                .WithExample("invoice", "pdf", "INV-2026-000042", "--out", "INV-2026-000042.pdf");
            cli.Verb<VerifyInvoice.Settings>(invoice, "invoice verify", (s, _) => WithHostAsync(clock, (services, ct) => VerifyInvoice.CommandAsync(services, s, ct)))
                .WithDescription("prove an issued invoice: recompute its usage from the events up to its event sequence (exit 0 when it matches, 1 when not)")
                .WithExample("invoice", "verify", "INV-2026-000042", "--json");
        });
        config.AddBranch("export", export =>
        {
            export.SetDescription("exports of issued invoices: export focus --period YYYY-MM --out FILE");
            export.SetDefaultCommand<MissingVerb>();
            cli.Verb<ExportFocus.Settings>(export, "export focus", (s, _) => WithHostAsync(clock, (services, ct) => ExportFocus.RunAsync(services, s, ct), daemon: false))
                .WithDescription("the period's issued invoices as a FinOps FOCUS 1.2 dataset (CSV, or --format parquet)")
                .WithExample("export", "focus", "--period", "2026-10", "--out", "focus-2026-10.csv");
        });
        config.AddBranch("dead-letters", deadLetters =>
        {
            deadLetters.SetDescription("rejected records, or with --messages the messages Wolverine parked: dead-letters list | dead-letters replay");
            deadLetters.SetDefaultCommand<MissingVerb>();
            cli.Verb<DeadLetters.ListSettings>(deadLetters, "dead-letters list", (s, _) => WithHostAsync(clock, (services, ct) => DeadLetters.ListCommandAsync(services, s, ct)))
                .WithDescription("rejected records with their reasons and original JSON; --messages: the messages Wolverine parked, with their errors");
            cli.Verb<DeadLetters.ReplaySettings>(deadLetters, "dead-letters replay", (s, _) => WithHostAsync(clock, (services, ct) => DeadLetters.ReplayCommandAsync(services, s, ct)))
                .WithDescription("submit dead letters again through the bus (say, once the missing endpoint.created was sent); --messages: send parked messages again");
        });
        config.AddBranch("keys", keys =>
        {
            keys.SetDescription("API keys: keys create | keys list | keys revoke ID");
            keys.SetDefaultCommand<MissingVerb>();
            cli.Verb<Keys.CreateSettings>(keys, "keys create", (s, _) => WithStoreAsync(clock, (services, ct) => Keys.CreateCommandAsync(services, s, ct)))
                .WithDescription("a new API key; its token is printed once, on stdout alone")
                .WithExample("keys", "create", "--role", "account", "--account", "111122223333", "--name", "acme-portal");
            cli.Verb<Keys.ListSettings>(keys, "keys list", (s, _) => WithStoreAsync(clock, (services, ct) => Keys.ListCommandAsync(services, s, ct)))
                .WithDescription("every key: id, role, name, account, who created and who revoked it");
            cli.Verb<Keys.RevokeSettings>(keys, "keys revoke", (s, _) => WithStoreAsync(clock, (services, ct) => Keys.RevokeCommandAsync(services, s, ct)))
                .WithDescription("revoke a key: refused from its next request on")
                .WithExample("keys", "revoke", "3f9a0c12b7e4");
        });
        config.AddBranch("webhooks", webhooks =>
        {
            webhooks.SetDescription("signed webhooks (Standard Webhooks): webhooks create | list | delete ID | deliveries | replay --delivery ID");
            webhooks.SetDefaultCommand<MissingVerb>();
            cli.Verb<Features.Webhooks.WebhookCommands.CreateSettings>(webhooks, "webhooks create", (s, _) => WithStoreAsync(clock, (services, ct) => Features.Webhooks.WebhookCommands.CreateCommandAsync(services, s, ct)))
                .WithDescription("a new endpoint; prints its id and signing secret (whsec_...) once, on stdout")
                .WithExample("webhooks", "create", "--url", "https://hooks.example.com/billing", "--account", "111122223333", "--events", "budget.threshold_crossed,invoice.issued");
            cli.Verb<Features.Webhooks.WebhookCommands.ListSettings>(webhooks, "webhooks list", (s, _) => WithStoreAsync(clock, (services, ct) => Features.Webhooks.WebhookCommands.ListCommandAsync(services, s, ct)))
                .WithDescription("the endpoints: id, account, events, URL, who created them");
            cli.Verb<Features.Webhooks.WebhookCommands.DeleteSettings>(webhooks, "webhooks delete", (s, _) => WithStoreAsync(clock, (services, ct) => Features.Webhooks.WebhookCommands.DeleteCommandAsync(services, s, ct)))
                .WithDescription("delete an endpoint: nothing more is sent to it");
            cli.Verb<Features.Webhooks.WebhookCommands.DeliveriesSettings>(webhooks, "webhooks deliveries", (s, _) => WithStoreAsync(clock, (services, ct) => Features.Webhooks.WebhookCommands.DeliveriesCommandAsync(services, s, ct)))
                .WithDescription("the latest deliveries with every attempt: status, response code, duration, error");
            cli.Verb<Features.Webhooks.WebhookCommands.ReplaySettings>(webhooks, "webhooks replay", (s, _) => WithHostAsync(clock, (services, ct) => Features.Webhooks.WebhookCommands.ReplayCommandAsync(services, s, ct), daemon: false))
                .WithDescription("send a delivery again (same webhook-id, a new run of retries) and print its attempt");
        });
        config.AddBranch("budgets", budgets =>
        {
            budgets.SetDescription("budgets that alert on spend: budgets create | budgets list | budgets delete ID");
            budgets.SetDefaultCommand<MissingVerb>();
            cli.Verb<Features.Budgets.BudgetRoutes.CreateSettings>(budgets, "budgets create", (s, _) => WithStoreAsync(clock, (services, ct) => Features.Budgets.BudgetRoutes.CreateCommandAsync(services, s, ct)))
                .WithDescription("a budget per period of an account; its id is printed alone on stdout")
                .WithExample("budgets", "create", "--account", "111122223333", "--amount", "100.00", "--thresholds", "50,80,100", "--basis", "actual", "--name", "monthly");
            cli.Verb<Features.Budgets.BudgetRoutes.ListSettings>(budgets, "budgets list", (s, _) => WithStoreAsync(clock, (services, ct) => Features.Budgets.BudgetRoutes.ListCommandAsync(services, s, ct)))
                .WithDescription("the budgets in force and the alerts each has raised");
            cli.Verb<Features.Budgets.BudgetRoutes.DeleteSettings>(budgets, "budgets delete", (s, _) => WithStoreAsync(clock, (services, ct) => Features.Budgets.BudgetRoutes.DeleteCommandAsync(services, s, ct)))
                .WithDescription("delete a budget: it alerts no more");
        });
        cli.Verb<EmptyCommandSettings>(config, "replay", (_, _) => WithHostAsync(clock, ReplayProjections.RunAsync, daemon: false))
            .WithDescription("rebuild every projection from the event store, with progress (stop serve first)");
        cli.Verb<Demo.Settings>(config, "demo", (s, _) => WithHostAsync(clock, (services, ct) => Demo.RunAsync(services, s, ct)))
            .WithDescription("the quick start: a month of synthetic usage through the bus, a summary, invoices and PDFs");
        cli.Verb<GenerateUsage.Settings>(config, "generate", (s, _) => GenerateUsage.RunAsync(s, clock))
            .WithDescription("deterministic synthetic usage as JSON Lines (for imports and benchmarks)")
            .WithExample("generate", "--out", "usage.jsonl", "--accounts", "100", "--records-per-hour", "4");
        // Listed so that the root help and the "did you mean" know them; RunAsync hands them on (or refuses bench) before parsing.
        cli.Verb<EmptyCommandSettings>(config, "help", (_, _) => Task.FromResult(0))
            .WithDescription("this help; help VERB is VERB --help");
        cli.Verb<EmptyCommandSettings>(config, "bench", (_, _) => Task.FromResult(0))
            .WithDescription("the performance benchmark, on a database of its own (bench/Billing.Bench: ./billing bench --help)");
        foreach (var (verb, description) in new[]
                 {
                     ("codegen", "JasperFx: Wolverine's handler code (codegen write pre-generates it)"),
                     ("describe", "JasperFx: the application's configuration"),
                     ("db-apply", "JasperFx: apply the database schema"),
                     ("db-assert", "JasperFx: check the database schema"),
                     ("resources", "JasperFx: set up, check or tear down the stateful resources"),
                     ("projections", "JasperFx: Marten's projections (rebuild, list)"),
                 })
            cli.Verb<EmptyCommandSettings>(config, verb, (_, _) => Task.FromResult(0)).WithDescription(description);
    }

    /// <summary>A branch called without one of its verbs (`billing dead-letters`): a usage error, as before Spectre.</summary>
    sealed class MissingVerb : Command<EmptyCommandSettings>
    {
        protected override int Execute(CommandContext context, EmptyCommandSettings settings, CancellationToken cancellationToken) =>
            CommandLine.Fail($"'{context.Arguments.FirstOrDefault()}' needs one of its verbs: billing {context.Arguments.FirstOrDefault()} --help lists them");
    }

    static async Task<int> ServeAsync(NodaTime.IClock clock)
    {
        var settings = BillingSettings.FromEnvironment() with { RunSchedules = true };
        try
        {
            CloseSchedule.Cron(settings.CloseTickSeconds);
        }
        catch (InvalidOperationException e)
        {
            throw new CliException(e.Message);
        }
        await Database.EnsureExistsAsync(settings.ConnectionString);
        var app = BuildWebApp([], settings, clock);
        await app.StartAsync();
        Console.Error.WriteLine($"billing: serving on {string.Join(", ", app.Urls)} (Ctrl-C to stop)");
        if (settings.JwtAuthority is null && !await app.Services.GetRequiredService<KeysExist>().AnyAsync()) Console.Error.WriteLine($"billing: every request is refused: {Access.ApiKeyAuthentication.NoKeyYet}");
        await app.WaitForShutdownAsync();
        return 0;
    }

    public static WebApplication BuildWebApp(string[] args, BillingSettings settings, NodaTime.IClock clock)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.WebHost.UseUrls(settings.Urls);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = settings.MaxBodyBytes);
        builder.Logging.SetMinimumLevel(Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("BILLING_LOG_LEVEL"), out var level) ? level : LogLevel.Warning);
        BillingHost.Configure(builder, settings, clock);
        builder.Services.AddBillingAccess(settings);
        builder.Services.AddBillingConsole();
        builder.Services.AddBillingOpenApi();
        builder.AddBillingTelemetry(settings);
        var app = builder.Build();
        StoreUnavailable.Use(app);
        app.UseBillingAccess(settings);
        PostUsageEvents.Map(app);
        QueryUsage.Map(app);
        QuerySpend.Map(app);
        Features.Budgets.BudgetRoutes.Map(app);
        QueryInvoices.Map(app);
        VerifyInvoice.Map(app);
        RerateCommand.Map(app);
        DeadLetters.Map(app);
        ConsoleAuth.Map(app);
        ConsolePages.Map(app);
        app.MapBillingOpenApi();
        app.MapBillingHealth();
        app.MapBillingMetrics().RequireAuthorization(Policies.Operate);
        return app;
    }

    /// <summary>Runs a verb on a started host without an HTTP listener.</summary>
    static async Task<int> WithHostAsync(NodaTime.IClock clock, Func<IServiceProvider, CancellationToken, Task<int>> verb, bool daemon = true)
    {
        // Only serve nodes post webhooks; a verb leaves what it raises queued for them.
        var settings = BillingSettings.FromEnvironment() with { RunDaemon = daemon, Webhooks = Features.Webhooks.WebhookSettings.FromEnvironment() with { Deliver = false } };
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
            return await verb(host.Services, cancel.Token);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// Runs a verb on the event store alone: no Wolverine node, so managing keys never joins the
    /// running nodes' cluster (a node that joins and leaves moves their leadership and partitions).
    /// </summary>
    static async Task<int> WithStoreAsync(NodaTime.IClock clock, Func<IServiceProvider, CancellationToken, Task<int>> verb)
    {
        var settings = BillingSettings.FromEnvironment();
        await Database.EnsureExistsAsync(settings.ConnectionString);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(clock);
        builder.Services.AddMarten(opts => BillingHost.ConfigureStore(opts, settings)).ApplyAllDatabaseChangesOnStartup();
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            return await verb(host.Services, CancellationToken.None);
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
