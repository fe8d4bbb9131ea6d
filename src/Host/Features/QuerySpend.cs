using System.ComponentModel;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Invoicing;
using Billing.Invoicing.Spend;
using Billing.Metering;
using Marten;
using NodaTime;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// An account's month-to-date cost and forecast (spec 11, docs/spend.md): GET /api/spend/{accountId}/{period}
/// and `billing spend --account ID --period YYYY-MM [--json]`.
/// </summary>
public static class QuerySpend
{
    public static void Map(WebApplication app) =>
        app.MapGet("/api/spend/{accountId}/{period}", async (string accountId, string period, Caller caller, HttpContext context, IQuerySession session,
                BillingSettings settings, PriceBook priceBook, IClock clock, CancellationToken ct) =>
            {
                if (QueryUsage.Validate(accountId, period) is { } error) return Results.BadRequest(new { error });
                // Another account's spend is answered as a route that does not exist, as its usage is.
                if (!caller.MayRead(accountId)) return Policies.NotFound(context);
                var spend = await SpendQuery.ForAccountAsync(session, accountId, BillingPeriod.Parse(period), clock.GetCurrentInstant(), settings.LateWindow, priceBook, ct);
                return Results.Text(ToJson(spend), "application/json");
            })
            .WithName("GetAccountSpend")
            .WithTags("spend")
            .WithSummary("An account's month-to-date cost and forecast in a period")
            .WithDescription("actual: the invoice a close at asOf would issue (the hours begun so far, every record known, the adjustments of earlier periods a close would carry, the tax of the country in effect), priced by the invoice's own code; once the period is invoiced, that invoice. forecast: an estimate to the period's end, by the method it names. lines: the actual's invoice lines. An account key reads only its own account; any other is answered 404.")
            .Produces<SpendDocument>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.ReadAccounts);

    static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.Create(UnicodeRanges.All) };

    /// <summary>The interface's JSON: decimals as strings with two places, lines in the invoice's line shape.</summary>
    public static string ToJson(MonthToDate spend)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("accountId", spend.AccountId);
            w.WriteString("period", spend.Period.ToString());
            w.WriteString("currency", spend.Currency);
            w.WriteString("asOf", Billing.Events.RecordParser.Format(spend.AsOf));
            w.WriteStartObject("actual");
            Amounts(w, spend.Actual);
            w.WriteEndObject();
            w.WriteStartObject("forecast");
            Amounts(w, spend.Forecast);
            w.WriteString("method", spend.Method);
            w.WriteEndObject();
            w.WriteStartArray("lines");
            foreach (var line in spend.Lines) InvoiceJson.WriteLine(w, line);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    static void Amounts(Utf8JsonWriter w, SpendAmounts amounts)
    {
        w.WriteString("subtotal", Money.Format(amounts.Subtotal));
        w.WriteString("tax", Money.Format(amounts.Tax));
        w.WriteString("total", Money.Format(amounts.Total));
    }

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--account <ID>", isRequired: true), Description("the account (12 digits)")]
        public string? Account { get; init; }

        [CommandOption("--period <YYYY-MM>", isRequired: true), Description("the billing period")]
        public string? Period { get; init; }

        [CommandOption("--json"), Description("the JSON of GET /api/spend/{accountId}/{period} instead of a table")]
        public bool Json { get; init; }
    }

    public static async Task<int> RunAsync(IServiceProvider services, Settings args, CancellationToken ct)
    {
        if (QueryUsage.Validate(args.Account, args.Period) is { } error) throw new CliException(error);
        var store = services.GetRequiredService<IDocumentStore>();
        await store.WaitForProjectionsAsync(TimeSpan.FromMinutes(5));
        await using var session = store.QuerySession();
        var spend = await SpendQuery.ForAccountAsync(session, args.Account!, BillingPeriod.Parse(args.Period!), services.GetRequiredService<IClock>().GetCurrentInstant(),
            services.GetRequiredService<BillingSettings>().LateWindow, services.GetRequiredService<PriceBook>(), ct);
        if (args.Json)
        {
            Console.WriteLine(ToJson(spend));
            return 0;
        }
        Console.WriteLine($"Spend of account {spend.AccountId} in {spend.Period} as of {Billing.Events.RecordParser.Format(spend.AsOf)} ({spend.Currency})");
        foreach (var line in spend.Lines)
            Console.WriteLine($"  {Describe(line),-62} {InvoiceJson.Quantity(line),20} {line.Unit,-5} {Money.Format(line.Amount),12}");
        Console.WriteLine($"  {"actual (month to date)",-62} subtotal {Money.Format(spend.Actual.Subtotal),10}  tax {Money.Format(spend.Actual.Tax),8}  total {Money.Format(spend.Actual.Total),10}");
        Console.WriteLine($"  {(spend.IsEstimate ? "forecast (an estimate) to the period's end" : "forecast"),-62} subtotal {Money.Format(spend.Forecast.Subtotal),10}  tax {Money.Format(spend.Forecast.Tax),8}  total {Money.Format(spend.Forecast.Total),10}");
        Console.WriteLine($"  method: {spend.Method}");
        return 0;
    }

    static string Describe(InvoiceLine l)
    {
        var what = l.Kind switch
        {
            LineKind.EndpointHours => $"endpoint-hours {l.Region} {l.EndpointType} {l.AzId}",
            LineKind.DataProcessing => $"data processing {l.Region} {l.Pool} tier {l.Tier}",
            LineKind.CrossAzOut => $"cross-AZ out {l.Region}",
            _ => $"cross-AZ in {l.Region}",
        };
        return l.Adjusts is { } adjusts ? $"adjustment for {adjusts}: {what}" : what;
    }
}
