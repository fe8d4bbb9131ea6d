using System.Net;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;
using Microsoft.Playwright;

namespace Billing.Tests.ConsoleUi;

/// <summary>
/// One real service (Kestrel on loopback, real PostgreSQL) with October's usage of two accounts, their
/// invoices and one rejected record, and one headless Chromium (Debian's package; Playwright downloads
/// nothing here) that every test opens its own browser context in, so cookies never leak between tests.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    public const string A = OctoberScenario.A;
    public const string B = OctoberScenario.B;
    public const string Period = "2026-10";

    /// <summary>Where the browser is: Debian's chromium unless BILLING_CHROMIUM says otherwise.</summary>
    public static readonly string Chromium = Environment.GetEnvironmentVariable("BILLING_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public BillingTestHost Host { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public string Operator { get; private set; } = "";
    public string AccountA { get; private set; } = "";
    public string InvoiceOfA { get; private set; } = "";
    public string InvoiceOfB { get; private set; } = "";

    public async Task InitializeAsync()
    {
        // No browser is a failure with its reason, never a silent skip: CI must not pass without these tests.
        if (!File.Exists(Chromium))
            throw new InvalidOperationException($"Chromium is not installed at {Chromium}: scripts/test.sh installs Debian's package (apt-get install -y chromium), or set BILLING_CHROMIUM to its path");
        Host = await BillingTestHost.StartAsync();
        await Host.ImportAsync([
            .. OctoberScenario.Lines,
            Records.Opened("s-b", "2026-09-15T00:00:00Z", B, "Sample <KK> & Co", "JP"),
            // Refused for its negative byte count: the operator's page lists it with its reason.
            $$"""{"type":"traffic.processed","id":"bad-1","at":"2026-10-03T00:00:00Z","endpointId":"{{OctoberScenario.E3}}","azId":"use1-az1","bytes":-5}""",
        ]);
        var invoices = await CloseCommand.CloseAsync(Host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        InvoiceOfA = invoices.Single(i => i.AccountId == A).Number;
        InvoiceOfB = invoices.Single(i => i.AccountId == B).Number;
        Operator = (await Host.CreateKeyAsync("operator", name: "console-operator")).Token;
        AccountA = (await Host.CreateKeyAsync("account", A, "console-a")).Token;
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        Playwright?.Dispose();
        if (Host is not null) await Host.DisposeAsync();
    }

    public async Task<IBrowserContext> NewContextAsync()
    {
        var context = await Browser.NewContextAsync(new() { BaseURL = Host.Http.BaseAddress!.ToString() });
        // Two cores shared with builds and other suites: Playwright's 30 s default has run out on a loaded machine.
        context.SetDefaultTimeout(90_000);
        context.SetDefaultNavigationTimeout(90_000);
        return context;
    }

    /// <summary>A browser context signed in through the form, as a person would, on the console's page.</summary>
    public async Task<(IBrowserContext Context, IPage Page)> SignedInAsync(string token)
    {
        var context = await NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console/sign-in");
        await page.FillAsync("#key", token);
        await page.ClickAsync("form.sign-in button[type=submit]");
        // DOMContentLoaded is enough: the pages load nothing else, and reads below wait on elements.
        await page.WaitForURLAsync("**/console", new() { WaitUntil = WaitUntilState.DOMContentLoaded });
        return (context, page);
    }

    /// <summary>The usage API's JSON for an account, read with the operator's bearer key.</summary>
    public async Task<JsonNode> UsageApiAsync(string account)
    {
        using var client = Host.ClientWith(Operator);
        return JsonNode.Parse(await client.GetStringAsync($"/api/usage/{account}/{Period}"))!;
    }
}

public class ConsoleBrowserTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    static string Screenshots => Path.Combine(PostgresServer.RepositoryRoot(), "out", "console");

    [Fact]
    public async Task An_unauthenticated_page_redirects_to_the_sign_in_form()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();

        var response = await page.GotoAsync($"/console?account={ConsoleFixture.A}");

        Assert.EndsWith("/console/sign-in", page.Url);
        Assert.Equal(200, response!.Status);
        Assert.Equal(1, await page.Locator("input#key[type=password]").CountAsync());
    }

    [Fact]
    public async Task An_account_key_sees_its_usage_per_day_and_AZ_as_the_usage_API_reports_it()
    {
        var (context, page) = await fixture.SignedInAsync(fixture.AccountA);
        await using var _ = context;
        var api = await fixture.UsageApiAsync(ConsoleFixture.A);

        await page.GotoAsync($"/console?period={ConsoleFixture.Period}");

        Assert.Equal(ConsoleFixture.A, await page.Locator("#usage").GetAttributeAsync("data-account"));
        var hourBars = await Figures(page, "svg[data-chart=hours] rect[data-day]", "hours");
        Assert.NotEmpty(hourBars);
        Assert.All(hourBars, b => Assert.StartsWith("2026-10-", b.Day));
        Assert.Equal(HoursPerAz(api), hourBars.GroupBy(b => b.Az).ToDictionary(g => g.Key, g => g.Sum(b => b.Value)));
        var byteBars = await Figures(page, "svg[data-chart=gb] rect[data-day]", "bytes");
        Assert.Equal(TotalBytes(api), byteBars.Sum(b => b.Value));
        Assert.Equal(HoursPerAz(api).Values.Sum().ToString(), await page.Locator("[data-total-hours]").GetAttributeAsync("data-total-hours"));
        Assert.Equal(Gigabytes.Format(Gigabytes.FromBytes(TotalBytes(api))), await page.Locator("[data-total-gb]").GetAttributeAsync("data-total-gb"));
        Assert.Equal(HoursPerAz(api), (await Figures(page, "tr[data-total-az]", "hours", az: "data-total-az")).ToDictionary(r => r.Az, r => r.Value));

        Directory.CreateDirectory(Screenshots);
        var file = Path.Combine(Screenshots, "usage.png");
        await page.ScreenshotAsync(new() { Path = file, FullPage = true });
        Assert.True(new FileInfo(file).Length > 10_000, $"the screenshot {file} is nearly empty");
    }

    [Fact]
    public async Task The_invoice_list_links_to_the_PDF_the_API_serves()
    {
        using var client = fixture.Host.ClientWith(fixture.Operator);
        var issued = await Eventually.UntilAsync(() => client.GetAsync($"/api/invoices/{fixture.InvoiceOfA}/pdf"), r => r.StatusCode == HttpStatusCode.OK,
            TimeSpan.FromSeconds(30), "the PDF of A's invoice rendered");
        var pdf = await issued.Content.ReadAsByteArrayAsync();
        var (context, page) = await fixture.SignedInAsync(fixture.AccountA);
        await using var _ = context;

        await page.GotoAsync($"/console?period={ConsoleFixture.Period}");

        Assert.Equal([fixture.InvoiceOfA], await page.Locator("tr[data-invoice]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.invoice)"));
        var href = await page.Locator($"tr[data-invoice='{fixture.InvoiceOfA}'] a[data-pdf]").GetAttributeAsync("href");
        Assert.Equal($"/console/invoices/{fixture.InvoiceOfA}/pdf", href);
        // The browser context's own request client: it sends the console cookie exactly as a click would.
        var response = await context.APIRequest.GetAsync(href!);
        Assert.Equal(200, response.Status);
        Assert.Equal("application/pdf", response.Headers["content-type"]);
        Assert.Equal(pdf, await response.BodyAsync());
    }

    [Fact]
    public async Task An_account_key_cannot_see_another_account_nor_use_the_cookie_on_the_API()
    {
        var (context, page) = await fixture.SignedInAsync(fixture.AccountA);
        await using var _ = context;

        var other = await page.GotoAsync($"/console?account={ConsoleFixture.B}&period={ConsoleFixture.Period}");
        Assert.Equal(404, other!.Status);
        Assert.Equal(0, await page.Locator("[data-day]").CountAsync());
        Assert.DoesNotContain(ConsoleFixture.B, await page.ContentAsync());
        var otherPdf = await context.APIRequest.GetAsync($"/console/invoices/{fixture.InvoiceOfB}/pdf");
        Assert.Equal(404, otherPdf.Status);
        var neverIssued = await context.APIRequest.GetAsync("/console/invoices/INV-2026-999999/pdf");
        Assert.Equal(await neverIssued.TextAsync(), await otherPdf.TextAsync());

        var cookie = (await context.CookiesAsync()).Single(c => c.Name == Billing.Host.WebConsole.ConsoleAuth.CookieName);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.Equal("/console", cookie.Path);
        // The cookie is the console's: sent by hand to the API it authenticates nothing.
        var api = await context.APIRequest.GetAsync($"/api/usage/{ConsoleFixture.A}/{ConsoleFixture.Period}", new() { Headers = new Dictionary<string, string> { ["Cookie"] = $"{cookie.Name}={cookie.Value}" } });
        Assert.Equal(401, api.Status);
    }

    [Fact]
    public async Task An_operator_chooses_the_account_and_sees_the_rejected_records_with_their_reasons()
    {
        var (context, page) = await fixture.SignedInAsync(fixture.Operator);
        await using var _ = context;
        using var client = fixture.Host.ClientWith(fixture.Operator);
        var letters = JsonNode.Parse(await client.GetStringAsync("/api/dead-letters"))!.AsArray();

        await page.FillAsync("#period", ConsoleFixture.Period);
        await page.SelectOptionAsync("#account", ConsoleFixture.B);
        await page.ClickAsync("form.chooser button[type=submit]");
        await page.WaitForURLAsync($"**/console?account={ConsoleFixture.B}&period={ConsoleFixture.Period}");

        Assert.Equal(ConsoleFixture.B, await page.Locator("#usage").GetAttributeAsync("data-account"));
        Assert.Equal(HoursPerAz(await fixture.UsageApiAsync(ConsoleFixture.B)),
            (await Figures(page, "svg[data-chart=hours] rect[data-day]", "hours")).GroupBy(b => b.Az).ToDictionary(g => g.Key, g => g.Sum(b => b.Value)));
        // The account's name is shown as text, encoded, never as markup.
        Assert.Contains("Sample <KK> & Co", await page.Locator("#account option:checked").TextContentAsync());
        Assert.Equal([fixture.InvoiceOfB], await page.Locator("tr[data-invoice]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.invoice)"));
        var rejected = page.Locator("tr[data-record-id='bad-1']");
        var letter = letters.Single(l => (string?)l!["recordId"] == "bad-1")!;
        Assert.Equal((string)letter["code"]!, await rejected.GetAttributeAsync("data-code"));
        Assert.Equal((string)letter["reason"]!, await rejected.Locator("[data-reason]").TextContentAsync());
    }

    [Fact]
    public async Task An_account_key_sees_no_rejected_records()
    {
        var (context, page) = await fixture.SignedInAsync(fixture.AccountA);
        await using var _ = context;

        Assert.Equal(0, await page.Locator("#rejected").CountAsync());
        Assert.Equal(0, await page.Locator("#account").CountAsync());
    }

    [Fact]
    public async Task A_wrong_key_is_refused_on_the_form_and_signing_out_clears_the_cookie()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console/sign-in");
        await page.FillAsync("#key", "bk_0123456789ab." + new string('x', 43));
        var refused = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("form.sign-in button[type=submit]"), r => r.Url.EndsWith("/console/sign-in") && r.Request.Method == "POST");
        Assert.Equal(401, refused.Status);
        Assert.Equal("unknown API key", await page.Locator("[data-error]").TextContentAsync());
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == Billing.Host.WebConsole.ConsoleAuth.CookieName);

        var (signedIn, console) = await fixture.SignedInAsync(fixture.Operator);
        await using var __ = signedIn;
        await console.ClickAsync("header form button[type=submit]");
        await console.WaitForURLAsync("**/console/sign-in");
        Assert.DoesNotContain(await signedIn.CookiesAsync(), c => c.Name == Billing.Host.WebConsole.ConsoleAuth.CookieName);
        await console.GotoAsync("/console");
        Assert.EndsWith("/console/sign-in", console.Url);
    }

    [Fact]
    public async Task A_sign_in_posted_without_the_forms_antiforgery_token_is_refused()
    {
        using var client = fixture.Host.ClientWith(null);

        var response = await client.PostAsync("/console/sign-in", new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = fixture.Operator }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith(Billing.Host.WebConsole.ConsoleAuth.CookieName + "=")));
    }

    [Fact]
    public async Task A_producer_key_cannot_sign_in()
    {
        var producer = (await fixture.Host.CreateKeyAsync("producer", name: "console-producer")).Token;
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console/sign-in");
        await page.FillAsync("#key", producer);
        await page.ClickAsync("form.sign-in button[type=submit]");

        Assert.Contains("is a producer's", await page.Locator("[data-error]").TextContentAsync());
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == Billing.Host.WebConsole.ConsoleAuth.CookieName);
    }

    [Fact]
    public async Task Beside_the_charts_are_the_month_to_date_cost_the_forecast_labelled_an_estimate_and_the_budgets_as_the_API_has_them()
    {
        using var client = fixture.Host.ClientWith(fixture.Operator);
        // 1 November 00:00 by the host's clock: November has just begun, so A's GatewayLoadBalancer endpoint forecasts
        // 720 hours (7.92); a forecast budget of 10.00 is past 50% at once.
        using (var created = await client.PostAsync("/api/budgets", new StringContent($$"""{"accountId":"{{ConsoleFixture.A}}","amount":"10.00","thresholds":[50,100],"basis":"forecast","name":"console <cap>"}""",
                   System.Text.Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        await Eventually.UntilAsync(async () => JsonNode.Parse(await client.GetStringAsync($"/api/budgets?accountId={ConsoleFixture.A}"))!.AsArray()
            .Any(b => b!["alerts"]!.AsArray().Count > 0), TimeSpan.FromSeconds(60), "the forecast budget's 50% alert");
        var november = JsonNode.Parse(await client.GetStringAsync($"/api/spend/{ConsoleFixture.A}/2026-11"))!;
        var october = JsonNode.Parse(await client.GetStringAsync($"/api/spend/{ConsoleFixture.A}/{ConsoleFixture.Period}"))!;
        var (context, page) = await fixture.SignedInAsync(fixture.AccountA);
        await using var _ = context;

        await page.GotoAsync("/console?period=2026-11");

        var spend = page.Locator("#usage .beside aside#spend");
        Assert.Equal("7.92", (string?)november["forecast"]!["total"]);
        Assert.Equal((string?)november["actual"]!["total"], await spend.Locator("[data-actual-total]").GetAttributeAsync("data-actual-total"));
        Assert.Equal("7.92", await spend.Locator("[data-forecast-total]").GetAttributeAsync("data-forecast-total"));
        Assert.Equal("true", await spend.Locator("[data-forecast-total]").GetAttributeAsync("data-estimate"));
        Assert.Contains("Forecast to the period's end (an estimate): 7.92 USD", await spend.InnerTextAsync());
        Assert.Equal((string?)november["forecast"]!["method"], await spend.Locator("[data-method]").TextContentAsync());
        var budget = spend.Locator("tr[data-budget]");
        Assert.Equal(("10.00", "forecast", "50"), (await budget.GetAttributeAsync("data-amount"), await budget.GetAttributeAsync("data-basis"), await budget.GetAttributeAsync("data-alerts")));
        Assert.Contains("console <cap>", await budget.InnerTextAsync());
        Assert.Contains("50% reached, 100%", await budget.InnerTextAsync());
        Assert.Contains("79%", await budget.InnerTextAsync());
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "spend.png"), FullPage = true });

        // October is invoiced: its spend is the invoice, no estimate.
        await page.GotoAsync($"/console?period={ConsoleFixture.Period}");
        Assert.Equal((string?)october["actual"]!["total"], await page.Locator("aside#spend [data-actual-total]").GetAttributeAsync("data-actual-total"));
        Assert.Equal("false", await page.Locator("aside#spend [data-forecast-total]").GetAttributeAsync("data-estimate"));
        Assert.Contains($"Invoiced ({fixture.InvoiceOfA})", await page.Locator("aside#spend").InnerTextAsync());
        Assert.Equal("", await page.Locator("aside#spend tr[data-budget]").GetAttributeAsync("data-alerts"));
    }

    sealed record Figure(string Day, string Az, decimal Value);

    /// <summary>The data attributes of the matched elements: what the page shows, without reading pixels.</summary>
    static async Task<List<Figure>> Figures(IPage page, string selector, string value, string az = "data-az") =>
        (await page.Locator(selector).EvaluateAllAsync<string[][]>($"els => els.map(e => [e.getAttribute('data-day') ?? '', e.getAttribute('{az}'), e.getAttribute('data-{value}')])"))
        .Select(f => new Figure(f[0], f[1], decimal.Parse(f[2], System.Globalization.CultureInfo.InvariantCulture))).ToList();

    static Dictionary<string, decimal> HoursPerAz(JsonNode usage) =>
        usage["endpointHours"]!.AsArray().GroupBy(h => (string)h!["azId"]!).ToDictionary(g => g.Key, g => g.Sum(h => (decimal)(int)h!["hours"]!));

    static decimal TotalBytes(JsonNode usage) => usage["dataProcessed"]!.AsArray().Sum(d => (decimal)d!["bytes"]!);
}
