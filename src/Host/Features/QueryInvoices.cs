using System.ComponentModel;
using System.Text.Json.Nodes;
using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Marten;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// Reading issued invoices: GET /api/invoices?period=YYYY-MM, GET /api/invoices/{number},
/// GET /api/invoices/{number}/pdf; `billing invoices --period YYYY-MM [--json]` and
/// `billing invoice pdf NUMBER --out FILE`. What is served is what was stored at issue, byte for byte.
/// </summary>
public static class QueryInvoices
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/api/invoices", async (string? period, Caller caller, IQuerySession session, CancellationToken ct) =>
        {
            if (!BillingPeriod.TryParse(period, out var p)) return Results.BadRequest(new { error = $"'{period}' is not a billing period like 2026-10 (YYYY-MM); use ?period=" });
            return Results.Text(await ListJsonAsync(session, p, ct, caller.OnlyAccount), "application/json");
        })
            .WithName("ListInvoices")
            .WithTags("invoices")
            .WithSummary("The period's issued invoices")
            .WithDescription("A JSON array of the invoices of ?period=YYYY-MM, by number, each exactly as issued; an account key sees only its own.")
            .Produces<InvoiceDocument[]>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .RequireAuthorization(Policies.ReadAccounts);
        app.MapGet("/api/invoices/{number}", async (string number, Caller caller, IQuerySession session, CancellationToken ct) =>
            await FindForAsync(caller, session, number, ct) switch
            {
                { Invoice: { } invoice } => Results.Text(invoice.Json, "application/json"),
                { Refusal: var refusal } => refusal!,
            })
            .WithName("GetInvoice")
            .WithTags("invoices")
            .WithSummary("An issued invoice")
            .WithDescription("The invoice JSON v1 exactly as issued, byte for byte. Another account's invoice is answered as a number never issued.")
            .Produces<InvoiceDocument>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.ReadAccounts);
        app.MapGet("/api/invoices/{number}/pdf", async (string number, Caller caller, HttpResponse response, IQuerySession session, CancellationToken ct) =>
        {
            if (await FindForAsync(caller, session, number, ct) is { Refusal: { } refusal }) return refusal;
            if (await InvoicePdfsTable.ReadAsync(session, number, ct) is { } pdf) return Results.File(pdf, "application/pdf", $"{number}.pdf");
            // Issued a moment ago: its PDF is rendered just after the invoice is committed.
            response.Headers.RetryAfter = "1";
            return Results.Json(new { error = $"the PDF of invoice {number} is being rendered; try again in a second" }, statusCode: StatusCodes.Status503ServiceUnavailable);
        })
            .WithName("GetInvoicePdf")
            .WithTags("invoices")
            .WithSummary("An issued invoice's PDF")
            .WithDescription("The PDF exactly as issued. Just after issue it may still be rendering: 503 with Retry-After: 1.")
            .Produces<Stream>(StatusCodes.Status200OK, "application/pdf")
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .WithMetadata(new Microsoft.AspNetCore.Mvc.ProducesResponseTypeAttribute<ApiError>(StatusCodes.Status503ServiceUnavailable, "application/json") { Description = "The PDF is still being rendered: Retry-After: 1" })
            .RequireAuthorization(Policies.ReadAccounts);
    }

    /// <summary>
    /// The invoice if the caller may read it. Another account's invoice is answered exactly as a
    /// number never issued, so an account key cannot tell which numbers exist.
    /// </summary>
    static async Task<(IssuedInvoice? Invoice, IResult? Refusal)> FindForAsync(Caller caller, IQuerySession session, string number, CancellationToken ct)
    {
        if (!InvoiceNumber.TryParse(number, out _, out _))
            return (null, Results.BadRequest(new { error = $"'{number}' is not an invoice number like {InvoiceNumber.Format(2026, 42)}" }));
        return await FindAsync(session, number, ct) is { } invoice && caller.MayRead(invoice.AccountId) ? (invoice, null) : (null, NotFound(number));
    }

    static IResult NotFound(string number) => Results.NotFound(new { error = $"no invoice numbered '{number}'" });

    public static Task<IssuedInvoice?> FindAsync(IQuerySession session, string number, CancellationToken ct) =>
        session.Query<IssuedInvoice>().Where(x => x.Number == number).FirstOrDefaultAsync(ct);

    /// <param name="onlyAccount">the one account whose invoices are listed; null for every account's</param>
    public static async Task<IReadOnlyList<IssuedInvoice>> ListAsync(IQuerySession session, BillingPeriod period, CancellationToken ct, string? onlyAccount = null)
    {
        var query = session.Query<IssuedInvoice>().Where(x => x.Period == period.ToString());
        if (onlyAccount is not null) query = query.Where(x => x.AccountId == onlyAccount);
        return (await query.ToListAsync(ct)).OrderBy(i => i.Number, StringComparer.Ordinal).ToList();
    }

    /// <summary>A JSON array of the period's invoices, each exactly as issued (spec section 10).</summary>
    public static async Task<string> ListJsonAsync(IQuerySession session, BillingPeriod period, CancellationToken ct, string? onlyAccount = null) =>
        new JsonArray((await ListAsync(session, period, ct, onlyAccount)).Select(i => JsonNode.Parse(i.Json)).ToArray()).ToJsonString(Billing.Events.RecordJson.Options);

    public sealed class ListSettings : CommandSettings
    {
        [CommandOption("--period <YYYY-MM>", isRequired: true), Description("the billing period")]
        public string? Period { get; init; }

        [CommandOption("--json"), Description("a JSON array of the invoices, each exactly as issued (spec section 10)")]
        public bool Json { get; init; }
    }

    public sealed class PdfSettings : CommandSettings
    {
        [CommandArgument(0, "<NUMBER>"), Description("the invoice's number, e.g. INV-2026-000042")]
        public string Number { get; init; } = "";

        [CommandOption("--out <FILE>", isRequired: true), Description("where to write the PDF")]
        public string? Out { get; init; }
    }

    public static async Task<int> ListCommandAsync(IServiceProvider services, ListSettings args, CancellationToken ct)
    {
        var text = args.Period;
        if (!BillingPeriod.TryParse(text, out var period)) throw new CliException($"'{text}' is not a billing period like 2026-10 (YYYY-MM)");
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        if (args.Json)
        {
            Console.WriteLine(await ListJsonAsync(session, period, ct));
            return 0;
        }
        var invoices = await ListAsync(session, period, ct);
        PrintTable(invoices);
        return 0;
    }

    public static void PrintTable(IReadOnlyList<IssuedInvoice> invoices)
    {
        Console.WriteLine($"{"account",-14}{"number",-18}{"total (USD)",14}");
        foreach (var i in invoices) Console.WriteLine($"{i.AccountId,-14}{i.Number,-18}{i.Total,14:N2}");
        Console.WriteLine($"{invoices.Count} invoices, {invoices.Sum(i => i.Total):N2} USD in all");
    }

    /// <summary>`billing invoice pdf NUMBER --out FILE`.</summary>
    public static async Task<int> PdfCommandAsync(IServiceProvider services, PdfSettings args, CancellationToken ct)
    {
        var (number, file) = (args.Number, args.Out ?? throw new CliException("usage: billing invoice pdf NUMBER --out FILE"));
        if (!InvoiceNumber.TryParse(number, out _, out _)) throw new CliException($"'{number}' is not an invoice number like INV-2026-000042");
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var pdf = await InvoicePdfsTable.ReadAsync(session, number, ct) ?? throw new CliException($"no invoice numbered '{number}'");
        await File.WriteAllBytesAsync(file, pdf, ct);
        Console.WriteLine($"wrote {file} ({pdf.Length:N0} bytes)");
        return 0;
    }
}
