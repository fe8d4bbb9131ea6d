using System.ComponentModel;
using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Invoicing.Rerating;
using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// What-if re-rating: `billing rerate --period YYYY-MM --pricebook FILE [--json]` and
/// POST /api/rerate?period=YYYY-MM with a price book as the body. Reads the period's usage as the
/// close does, its issued invoices and the accounts, and hands them to <see cref="Rerater"/>
/// (pure); it only reads, through a query session, so no issued invoice can change.
/// </summary>
public static class RerateCommand
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--period <YYYY-MM>", isRequired: true), Description("the billing period to re-rate")]
        public string? Period { get; init; }

        [CommandOption("--pricebook <FILE>", isRequired: true), Description("the price book to re-rate under (the format of docs/invoicing.md)")]
        public string? PriceBook { get; init; }

        [CommandOption("--json"), Description("the result as JSON (docs/rerating.md), decimals as strings")]
        public bool Json { get; init; }
    }

    public static void Map(WebApplication app)
    {
        app.MapPost("/api/rerate", async (string? period, HttpRequest request, IServiceProvider services, CancellationToken ct) =>
        {
            if (!BillingPeriod.TryParse(period, out var p))
                return Results.BadRequest(new ApiError { Error = $"'{period}' is not a billing period like 2026-10 (YYYY-MM); use ?period=" });
            using var reader = new StreamReader(request.Body);
            var body = await reader.ReadToEndAsync(ct);
            try
            {
                var book = PriceBook.Load(body);
                return Results.Text(RerateJson.Write(await RerateAsync(services, p, book, ct)), "application/json");
            }
            catch (PriceBookException e)
            {
                // Either the book cannot be read or it has no price for a region the usage is in: the caller's to fix.
                return Results.BadRequest(new ApiError { Error = e.Message });
            }
        })
            .WithName("Rerate")
            .WithTags("rerating")
            .WithSummary("What-if: the period's usage re-priced under another price book")
            .WithDescription("Prices ?period=YYYY-MM's usage under the price book in the body (docs/invoicing.md) next to what was charged: per account and in total, the issued invoice's subtotal, tax and total (or, without one, the current price book's) and the re-rated ones; difference = rerated total - current total. Writes nothing.")
            .Accepts<PriceBookInput>("application/json")
            .Produces<RerateDocument>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .RequireAuthorization(Policies.Operate);
    }

    /// <summary>What the re-rating reads: the period's usage (as the close computes it), its issued invoices, and the profiles of the accounts without one.</summary>
    public sealed record Facts(IReadOnlyDictionary<string, AccountUsage> Usage, IReadOnlyDictionary<string, AccountProfile> Profiles, IReadOnlyDictionary<string, Invoice> Issued);

    public static async Task<Facts> LoadAsync(IServiceProvider services, BillingPeriod period, CancellationToken ct)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        var window = services.GetRequiredService<BillingSettings>().LateWindow;
        await using var session = store.QuerySession();
        var usage = await UsageQueries.ForPeriodAsync(session, period, window, ct);
        var issued = (await session.Query<IssuedInvoice>().Where(x => x.Period == period.ToString()).ToListAsync(ct))
            .ToDictionary(i => i.AccountId, i => InvoiceJson.Read(i.Json), StringComparer.Ordinal);
        var profiles = (await session.LoadManyAsync<AccountProfile>(ct, usage.Keys.Where(a => !issued.ContainsKey(a))))
            .ToDictionary(p => p.Id, StringComparer.Ordinal);
        return new Facts(usage, profiles, issued);
    }

    /// <summary>Reads what the re-rating needs and re-rates; throws <see cref="PriceBookException"/> when <paramref name="candidate"/> lacks a price the usage needs.</summary>
    public static async Task<RerateResult> RerateAsync(IServiceProvider services, BillingPeriod period, PriceBook candidate, CancellationToken ct) =>
        Rerate(services, period, await LoadAsync(services, period, ct), candidate);

    static RerateResult Rerate(IServiceProvider services, BillingPeriod period, Facts facts, PriceBook candidate) =>
        Rerater.Rerate(period, facts.Usage, facts.Profiles, facts.Issued, services.GetRequiredService<PriceBook>(), candidate);

    public static async Task<int> RunAsync(IServiceProvider services, Settings args, CancellationToken ct)
    {
        if (!BillingPeriod.TryParse(args.Period, out var period)) throw new CliException($"'{args.Period}' is not a billing period like 2026-10 (YYYY-MM)");
        var file = args.PriceBook ?? throw new CliException("usage: billing rerate --period YYYY-MM --pricebook FILE [--json]");
        if (!File.Exists(file)) throw new CliException($"--pricebook {file}: no such file");
        PriceBook book;
        try { book = PriceBook.LoadFile(file); }
        catch (PriceBookException e) { throw new CliException(e.Message); }

        // As the close does: usage is computed from what the projections hold, so let them catch up first.
        await services.GetRequiredService<IDocumentStore>().WaitForProjectionsAsync(TimeSpan.FromMinutes(10));
        var started = System.Diagnostics.Stopwatch.StartNew();
        var facts = await LoadAsync(services, period, ct);
        var read = started.Elapsed;
        RerateResult result;
        try { result = Rerate(services, period, facts, book); }
        catch (PriceBookException e) { throw new CliException(e.Message); }
        // On stderr, so that --json's stdout stays one JSON document.
        Console.Error.WriteLine($"billing: re-rated {period} ({result.Accounts.Count:N0} accounts) in {started.Elapsed.TotalSeconds:0.0} s: usage and invoices read in {read.TotalSeconds:0.0} s, priced in {(started.Elapsed - read).TotalSeconds:0.00} s");

        if (args.Json)
        {
            Console.WriteLine(RerateJson.Write(result));
            return 0;
        }
        Console.WriteLine($"{"account",-14}{"current",14}{"rerated",14}{"difference",14}  current from");
        foreach (var a in result.Accounts)
            Console.WriteLine($"{a.AccountId,-14}{a.Current.Total,14:N2}{a.Rerated.Total,14:N2}{a.Difference,14:N2}  {(a.Issued ? "issued invoice" : "current price book")}");
        Console.WriteLine($"{result.Accounts.Count:N0} accounts: current {result.Current.Total:N2}, rerated {result.Rerated.Total:N2}, difference {result.Difference:N2} USD (tax included)");
        return 0;
    }
}
