using System.ComponentModel;
using Billing.Host.Access;
using Billing.Host.Api;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Invoicing.Provenance;
using Billing.Metering;
using Marten;
using NodaTime;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// Proving an issued invoice (issue 14, docs/provenance.md): `billing invoice verify NUMBER [--json]` and
/// GET /api/invoices/{number}/verify (operators). The usage is recomputed from the events up to the
/// invoice's event sequence and hashed (<see cref="UsageFromEvents"/>), the period is recomputed with every
/// event known now, and <see cref="InvoiceVerification"/> (pure) compares them.
/// </summary>
public static class VerifyInvoice
{
    public static void Map(WebApplication app) =>
        app.MapGet("/api/invoices/{number}/verify", async (string number, IServiceProvider services, IQuerySession session, CancellationToken ct) =>
        {
            if (!InvoiceNumber.TryParse(number, out _, out _))
                return Results.BadRequest(new { error = $"'{number}' is not an invoice number like {InvoiceNumber.Format(2026, 42)}" });
            return await VerifyAsync(services, session, number, ct) is { } report
                ? Results.Text(InvoiceVerification.Json(report), "application/json")
                : Results.NotFound(new { error = $"no invoice numbered '{number}'" });
        })
            .WithName("VerifyInvoice")
            .WithTags("invoices")
            .WithSummary("Prove an issued invoice from the event store")
            .WithDescription("Recomputes the usage the invoice priced from the events up to its provenance's eventSequence and compares its SHA-256 (matches); "
                + "shows the period with every event known now, and which later invoice carried the difference or which close will. "
                + "An invoice issued before provenance answers matches null.")
            .Produces<InvoiceVerificationDocument>(StatusCodes.Status200OK)
            .Produces<ApiError>(StatusCodes.Status400BadRequest)
            .Produces<ApiError>(StatusCodes.Status404NotFound)
            .RequireAuthorization(Policies.Operate);

    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<NUMBER>"), Description("the invoice's number, e.g. INV-2026-000042")]
        public string Number { get; init; } = "";

        [CommandOption("--json"), Description("the report as JSON (the same as GET /api/invoices/{number}/verify)")]
        public bool Json { get; init; }
    }

    /// <summary>Exit 0 when the invoice's usage is reproduced, 1 when not (or it has no provenance), 2 for a usage error.</summary>
    public static async Task<int> CommandAsync(IServiceProvider services, Settings args, CancellationToken ct)
    {
        var number = args.Number;
        if (!InvoiceNumber.TryParse(number, out _, out _)) throw new CliException($"'{number}' is not an invoice number like INV-2026-000042");
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var report = await VerifyAsync(services, session, number, ct) ?? throw new CliException($"no invoice numbered '{number}'");
        Console.WriteLine(args.Json ? InvoiceVerification.Json(report) : InvoiceVerification.Text(report));
        return report.ExitCode;
    }

    /// <summary>Loads what verifying needs and decides; null when no invoice has that number.</summary>
    public static async Task<InvoiceVerificationReport?> VerifyAsync(IServiceProvider services, IQuerySession session, string number, CancellationToken ct)
    {
        if (await QueryInvoices.FindAsync(session, number, ct) is not { } issued) return null;
        var (window, priceBook, clock) = (services.GetRequiredService<LateWindow>(), services.GetRequiredService<PriceBook>(), services.GetRequiredService<IClock>());
        var invoice = InvoiceJson.Read(issued.Json);
        var account = invoice.AccountId;

        var recomputed = new List<AccountUsage>();
        if (invoice.Provenance is { } provenance)
            foreach (var period in invoice.Lines.Select(l => l.Adjusts).OfType<BillingPeriod>().Append(invoice.Period).Distinct().Order())
                recomputed.Add(await UsageFromEvents.ForAccountAsync(session, account, period, window, provenance.EventSequence, ct));
        var now = await UsageFromEvents.ForAccountAsync(session, account, invoice.Period, window, null, ct);

        var after = window.AdjustedByCloseOf(invoice.Period).Select(p => p.ToString()).ToArray();
        var later = (await session.Query<IssuedInvoice>().Where(x => x.AccountId == account && x.Period.IsOneOf(after)).ToListAsync(ct))
            .Select(i => InvoiceJson.Read(i.Json)).ToList();
        var closed = (await session.LoadManyAsync<ClosedPeriod>(ct, after)).Select(c => c.Period).ToHashSet();
        return InvoiceVerification.Verify(invoice, recomputed, now, later, closed, clock.GetCurrentInstant(), window, priceBook, Fingerprints.Rules);
    }
}
