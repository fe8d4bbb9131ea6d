using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Billing.Host.Access;
using Billing.Host.Features;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;
using Microsoft.AspNetCore.Antiforgery;
using NodaTime;

namespace Billing.Host.WebConsole;

/// <summary>
/// The read-only usage console under /console: one page of an account's usage per day and AZ (two
/// server-drawn charts), its invoices with their PDFs, and for an operator the rejected records. Signed
/// in with an API key (<see cref="ConsoleAuth"/>). An account key sees its own account only: naming any
/// other gets the same 404 as the API gives. Plain HTML from C#, every value HTML-encoded, no script.
/// </summary>
public static class ConsolePages
{
    public const string PdfPath = "/console/invoices/{number}/pdf";

    /// <summary>How many rejected records the operator's page lists, newest first.</summary>
    public const int DeadLetterLimit = 200;

    public static void Map(WebApplication app)
    {
        app.MapGet(ConsoleAuth.Root, PageAsync).RequireAuthorization(Policies.ReadAccounts).ExcludeFromDescription();
        app.MapGet(PdfPath, PdfAsync).RequireAuthorization(Policies.ReadAccounts).ExcludeFromDescription();
        // Anything else under /console is a page that does not exist, as a page rather than the API's JSON.
        app.MapFallback("/console/{**path}", () => NotFound()).AllowAnonymous();
    }

    static async Task<IResult> PageAsync(string? account, string? period, Caller caller, HttpContext context, IAntiforgery antiforgery,
        IQuerySession session, BillingSettings settings, IClock clock, PriceBook priceBook, CancellationToken ct)
    {
        var chosenPeriod = BillingPeriod.Of(clock.GetCurrentInstant()).Previous;
        if (!string.IsNullOrEmpty(period) && !BillingPeriod.TryParse(period, out chosenPeriod))
            return Html.Page("Bad request · billing console", $"""<h1>Bad request</h1><p class="error" data-error>'{Html.E(period)}' is not a billing period like 2026-10 (YYYY-MM). <a href="{ConsoleAuth.Root}">Back</a></p>""", StatusCodes.Status400BadRequest);

        string? chosen;
        if (caller.Role == KeyRole.Account)
        {
            // The key's own account, whatever else is asked for; asking for another is a page that does not exist.
            if (!string.IsNullOrEmpty(account) && !caller.MayRead(account)) return NotFound();
            chosen = caller.AccountId;
        }
        else
        {
            if (!string.IsNullOrEmpty(account) && QueryUsage.Validate(account, chosenPeriod.ToString()) is { } error)
                return Html.Page("Bad request · billing console", $"""<h1>Bad request</h1><p class="error" data-error>{Html.E(error)}. <a href="{ConsoleAuth.Root}">Back</a></p>""", StatusCodes.Status400BadRequest);
            chosen = string.IsNullOrEmpty(account) ? null : account;
        }

        var body = new StringBuilder();
        body.Append(Header(context, antiforgery, caller));
        body.Append(await ChooserAsync(session, caller, chosen, chosenPeriod, ct));
        if (chosen is null)
            body.Append("""<p class="hint" data-no-account>Choose an account to see its usage and invoices.</p>""");
        else
        {
            var (usage, daily) = await UsageQueries.ForAccountByDayAsync(session, chosen, chosenPeriod, settings.LateWindow, ct);
            var spend = await Billing.Invoicing.Spend.SpendQuery.ForAccountAsync(session, chosen, chosenPeriod, clock.GetCurrentInstant(), settings.LateWindow, priceBook, ct);
            var budgets = await Features.Budgets.BudgetRoutes.ListAsync(session, chosen, ct);
            body.Append(UsageSection(usage, daily, SpendSection(spend, budgets)));
            body.Append(InvoicesSection(await QueryInvoices.ListAsync(session, chosenPeriod, ct, chosen)));
        }
        if (caller.Role == KeyRole.Operator) body.Append(RejectedSection(await DeadLetters.ListAsync(session, null, DeadLetterLimit, ct)));
        return Html.Page(chosen is null ? "Billing console" : $"{chosen} · {chosenPeriod} · billing console", body.ToString(), StatusCodes.Status200OK);
    }

    static async Task<IResult> PdfAsync(string number, Caller caller, HttpResponse response, IQuerySession session, CancellationToken ct)
    {
        if (!InvoiceNumber.TryParse(number, out _, out _))
            return Html.Page("Bad request · billing console", $"""<h1>Bad request</h1><p class="error" data-error>'{Html.E(number)}' is not an invoice number like {Html.E(InvoiceNumber.Format(2026, 42))}.</p>""", StatusCodes.Status400BadRequest);
        // Another account's invoice is answered exactly as a number never issued, as the API does.
        if (await QueryInvoices.FindAsync(session, number, ct) is not { } invoice || !caller.MayRead(invoice.AccountId)) return NotFound();
        if (await InvoicePdfsTable.ReadAsync(session, number, ct) is { } pdf) return Results.File(pdf, "application/pdf", $"{number}.pdf");
        response.Headers.RetryAfter = "1";
        return Html.Page("Rendering · billing console", $"""<h1>Not yet</h1><p data-error>The PDF of invoice {Html.E(number)} is being rendered; reload in a second.</p>""", StatusCodes.Status503ServiceUnavailable);
    }

    static IResult NotFound() =>
        Html.Page("Not found · billing console", $"""<h1>Not found</h1><p class="error" data-error>No such page. <a href="{ConsoleAuth.Root}">Back to the console</a></p>""", StatusCodes.Status404NotFound);

    static string Header(HttpContext context, IAntiforgery antiforgery, Caller caller)
    {
        var csrf = antiforgery.GetAndStoreTokens(context);
        var who = caller.Role == KeyRole.Account ? $"account {caller.AccountId}" : "operator";
        return $"""
            <header>
              <strong>Billing console</strong>
              <span data-signed-in="{Html.E(caller.Role.ToString().ToLowerInvariant())}">signed in with key {Html.E(caller.Actor.KeyId ?? "")} ({Html.E(who)})</span>
              <form method="post" action="{ConsoleAuth.SignOutPath}">
                <input type="hidden" name="{Html.E(csrf.FormFieldName)}" value="{Html.E(csrf.RequestToken ?? "")}">
                <button type="submit">Sign out</button>
              </form>
            </header>
            """;
    }

    /// <summary>The period, and for an operator the account: a GET form, so every view is a link.</summary>
    static async Task<string> ChooserAsync(IQuerySession session, Caller caller, string? chosen, BillingPeriod period, CancellationToken ct)
    {
        var account = new StringBuilder();
        if (caller.Role == KeyRole.Operator)
        {
            var profiles = await session.Query<AccountProfile>().OrderBy(p => p.Id).Take(5000).ToListAsync(ct);
            account.Append("""<label for="account">Account</label><select id="account" name="account"><option value="">choose…</option>""");
            var listed = false;
            foreach (var p in profiles)
            {
                listed |= p.Id == chosen;
                account.Append($"""<option value="{Html.E(p.Id)}"{(p.Id == chosen ? " selected" : "")}>{Html.E(p.Id)} {Html.E(p.Name)}</option>""");
            }
            // An account with usage but no profile yet can still be named in the address; keep it selected.
            if (chosen is not null && !listed) account.Append($"""<option value="{Html.E(chosen)}" selected>{Html.E(chosen)}</option>""");
            account.Append("</select>");
        }
        else account.Append($"""<span>Account <strong data-account="{Html.E(chosen ?? "")}">{Html.E(chosen ?? "")}</strong></span>""");
        return $"""
            <form method="get" action="{ConsoleAuth.Root}" class="chooser">
              {account}
              <label for="period">Period</label><input id="period" name="period" type="month" value="{Html.E(period.ToString())}" required>
              <button type="submit">Show</button>
            </form>
            """;
    }

    /// <summary>
    /// Beside the charts: the month-to-date cost (the invoice a close now would issue), the forecast to the
    /// period's end, labelled an estimate while the period runs, and the account's budgets with the alerts
    /// of this period. The same figures as GET /api/spend and GET /api/budgets.
    /// </summary>
    static string SpendSection(Billing.Invoicing.Spend.MonthToDate spend, IReadOnlyList<(Billing.Invoicing.Budgets.Budget Budget, IReadOnlyList<Billing.Invoicing.Budgets.BudgetAlert> Alerts)> budgets)
    {
        string M(decimal amount) => Html.E(Money.Format(amount));
        var forecastLabel = spend.IsEstimate ? "Forecast to the period's end (an estimate)" : "Forecast";
        var rows = new StringBuilder();
        foreach (var (b, alerts) in budgets)
        {
            var cost = Billing.Invoicing.Budgets.BudgetCrossings.CostOn(spend, b.Basis);
            var raised = alerts.Where(a => a.Period == spend.Period.ToString()).OrderBy(a => a.Threshold).ToList();
            var share = b.Amount == 0 ? 0 : Math.Round(cost / b.Amount * 100, 0, MidpointRounding.AwayFromZero);
            rows.Append($"""<tr data-budget="{Html.E(b.BudgetId.ToString("D"))}" data-amount="{M(b.Amount)}" data-basis="{Html.E(Billing.Invoicing.Budgets.BudgetBases.Wire(b.Basis))}" data-alerts="{Html.E(string.Join(",", raised.Select(a => a.Threshold)))}"><td>{Html.E(b.Name ?? "-")}</td><td class="n">{M(b.Amount)}</td><td>{Html.E(b.Basis == Billing.Invoicing.Budgets.BudgetBasis.Forecast ? "forecast (estimate)" : "actual")}</td><td class="n">{share:0}%</td><td>{Html.E(string.Join(", ", b.Thresholds.Select(t => raised.Any(a => a.Threshold == t) ? $"{t}% reached" : $"{t}%")))}</td></tr>""");
        }
        var budgetTable = budgets.Count == 0
            ? """<p class="hint" data-no-budgets>No budget for this account (<code>billing budgets create</code> or <code>POST /api/budgets</code>).</p>"""
            : $"""<table class="budgets"><thead><tr><th>budget</th><th>USD</th><th>on</th><th>used</th><th>thresholds</th></tr></thead><tbody>{rows}</tbody></table>""";
        return $"""
            <aside id="spend" data-period="{Html.E(spend.Period.ToString())}" data-as-of="{Html.E(Billing.Events.RecordParser.Format(spend.AsOf))}">
              <h3>Spend in {Html.E(spend.Period.ToString())}</h3>
              <p>{(spend.InvoiceNumber is null ? "Month to date" : $"Invoiced ({Html.E(spend.InvoiceNumber)})")}: <strong data-actual-total="{M(spend.Actual.Total)}">{M(spend.Actual.Total)} USD</strong>
                <span class="hint" data-actual-subtotal="{M(spend.Actual.Subtotal)}" data-actual-tax="{M(spend.Actual.Tax)}">({M(spend.Actual.Subtotal)} + tax {M(spend.Actual.Tax)}, as of {Html.E(Billing.Events.RecordParser.Format(spend.AsOf))})</span></p>
              <p>{Html.E(forecastLabel)}: <strong data-forecast-total="{M(spend.Forecast.Total)}" data-estimate="{(spend.IsEstimate ? "true" : "false")}">{M(spend.Forecast.Total)} USD</strong></p>
              <p class="hint" data-method>{Html.E(spend.Method)}</p>
              <h3>Budgets</h3>
              {budgetTable}
            </aside>
            """;
    }

    static string UsageSection(AccountUsage usage, IReadOnlyList<DailyAzUsage> daily, string beside)
    {
        var rows = new StringBuilder();
        foreach (var az in daily.GroupBy(d => d.AzId).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var (hours, bytes) = (az.Sum(d => d.EndpointHours), az.Sum(d => d.Bytes));
            rows.Append($"""<tr data-total-az="{Html.E(az.Key)}" data-hours="{hours}" data-bytes="{N(bytes)}" data-gb="{Gigabytes.Format(Gigabytes.FromBytes(bytes))}"><td>{Html.E(az.Key)}</td><td class="n">{hours:N0}</td><td class="n">{Gigabytes.Format(Gigabytes.FromBytes(bytes))}</td></tr>""");
        }
        var totalHours = usage.EndpointHours.Sum(h => h.Hours);
        var totalBytes = usage.DataProcessed.Sum(d => d.Bytes);
        var crossAz = usage.CrossAz.Sum(c => c.Bytes);
        return $"""
            <section id="usage" data-account="{Html.E(usage.AccountId)}" data-period="{Html.E(usage.Period.ToString())}">
              <h2>Usage of {Html.E(usage.AccountId)} in {Html.E(usage.Period.ToString())}</h2>
              <p class="totals" data-total-hours="{totalHours}" data-total-bytes="{N(totalBytes)}" data-total-gb="{Gigabytes.Format(Gigabytes.FromBytes(totalBytes))}" data-cross-az-gb="{Gigabytes.Format(Gigabytes.FromBytes(crossAz))}">
                {totalHours:N0} endpoint-hours · {Gigabytes.Format(Gigabytes.FromBytes(totalBytes))} GB processed · {Gigabytes.Format(Gigabytes.FromBytes(crossAz))} GB cross-AZ (as owner)
              </p>
              <div class="beside">
                <div class="charts">
                  <figure>{UsageChart.Svg(usage.Period, daily, ChartMetric.Gb)}</figure>
                  <figure>{UsageChart.Svg(usage.Period, daily, ChartMetric.EndpointHours)}</figure>
                </div>
                {beside}
              </div>
              <table class="by-az"><thead><tr><th>AZ</th><th>endpoint-hours</th><th>GB processed</th></tr></thead><tbody>{rows}</tbody></table>
              <p class="hint">Days and hours in UTC. Endpoint-hours and data processed as payer; the same figures as <code>GET /api/usage/{Html.E(usage.AccountId)}/{Html.E(usage.Period.ToString())}</code>.</p>
            </section>
            """;
    }

    static string InvoicesSection(IReadOnlyList<IssuedInvoice> invoices)
    {
        var rows = new StringBuilder();
        foreach (var i in invoices)
            rows.Append($"""<tr data-invoice="{Html.E(i.Number)}" data-total="{N(i.Total)}"><td>{Html.E(i.Number)}</td><td>{Html.E(Billing.Events.RecordParser.Format(i.IssuedAt))}</td><td class="n">{Html.E(i.Total.ToString("N2", CultureInfo.InvariantCulture))} USD</td><td><a href="{Html.E(PdfPath.Replace("{number}", Uri.EscapeDataString(i.Number)))}" data-pdf>PDF</a></td></tr>""");
        var content = invoices.Count == 0
            ? """<p class="hint" data-no-invoices>No invoice issued for this period (yet: a period is closed once it and its grace period are over).</p>"""
            : $"""<table><thead><tr><th>number</th><th>issued</th><th>total</th><th></th></tr></thead><tbody>{rows}</tbody></table>""";
        return $"""<section id="invoices"><h2>Invoices</h2>{content}</section>""";
    }

    static string RejectedSection(IReadOnlyList<Billing.Metering.Ingestion.DeadLetter> letters)
    {
        var rows = new StringBuilder();
        foreach (var d in letters)
            rows.Append($"""<tr data-dead-letter="{Html.E(d.Id.ToString())}" data-record-id="{Html.E(d.RecordId ?? "")}" data-code="{Html.E(d.Code)}"><td>{Html.E(Billing.Events.RecordParser.Format(d.DeadLetteredAt))}</td><td>{Html.E(d.RecordId ?? "-")}</td><td><code>{Html.E(d.Code)}</code></td><td data-reason>{Html.E(d.Reason)}</td><td>{Html.E(d.SentBy ?? "-")}</td><td>{(d.ReplayedAt is null ? "" : "replayed")}</td></tr>""");
        var content = letters.Count == 0
            ? """<p class="hint" data-no-dead-letters>No rejected records.</p>"""
            : $"""<table><thead><tr><th>rejected at</th><th>record</th><th>code</th><th>reason</th><th>sent by</th><th></th></tr></thead><tbody>{rows}</tbody></table>""";
        return $"""<section id="rejected"><h2>Rejected records (newest {DeadLetterLimit}, every account)</h2>{content}</section>""";
    }

    static string N(decimal value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The console's markup helpers: the one encoder, and the page around every body.</summary>
public static class Html
{
    /// <summary>HTML-encodes a value for text or a quoted attribute.</summary>
    public static string E(string value) => HtmlEncoder.Default.Encode(value);

    /// <summary>
    /// A whole page. Its policy allows no script, no frame and forms to this origin only: the console
    /// needs none of the rest, so an injected value could do nothing even if one slipped past encoding.
    /// Nothing is cached, since the pages show customer data.
    /// </summary>
    public static IResult Page(string title, string body, int status) => new PageResult($$"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{E(title)}}</title>
        <style>
          body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1220px; padding: 1rem 1.5rem; color: #0f172a; }
          .beside { display: flex; gap: 1.5rem; align-items: flex-start; flex-wrap: wrap; }
          aside#spend { flex: 1 1 340px; border-left: 3px solid #2563eb; padding-left: 1rem; }
          aside#spend h3 { margin: .2rem 0 .4rem; font-size: 15px; }
          header { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #e2e8f0; padding-bottom: .5rem; }
          header form { margin-left: auto; }
          form.chooser, form.sign-in { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; margin: 1rem 0; }
          table { border-collapse: collapse; margin: .5rem 0 1rem; }
          th, td { text-align: left; padding: .2rem .6rem; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
          td.n { text-align: right; font-variant-numeric: tabular-nums; }
          figure { margin: .5rem 0; }
          .error { color: #b91c1c; }
          .hint { color: #64748b; }
        </style>
        </head>
        <body>
        {{body}}
        </body>
        </html>
        """, status);

    sealed class PageResult(string html, int status) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            var response = context.Response;
            response.StatusCode = status;
            response.ContentType = "text/html; charset=utf-8";
            response.Headers.CacheControl = "no-store";
            response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
            response.Headers.XContentTypeOptions = "nosniff";
            return response.WriteAsync(html, context.RequestAborted);
        }
    }
}
