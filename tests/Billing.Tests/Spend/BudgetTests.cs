using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Host.Features.Budgets;
using Billing.Invoicing;
using Billing.Invoicing.Budgets;
using Billing.Metering;
using Billing.Tests.Support;
using Marten;
using Marten.Exceptions;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;

namespace Billing.Tests.Spend;

/// <summary>
/// Budgets on the real service (PostgreSQL, the bus, the evaluator on its exclusive queue), in process
/// on the host's test clock: the routes and who may use them, an alert raised once per threshold as the
/// cost crosses it, and exactly once enforced by the database when two evaluations race.
/// </summary>
public sealed class BudgetTests
{
    const long GiB = 1L << 30;
    const string A = "111122223333";
    const string B = "444455556666";
    const string E = "vpce-0b0b0b0b0b0b0b0b0";
    static readonly Instant Now = Instant.FromUtc(2026, 12, 10, 8, 20);

    /// <summary>A opened, with one Interface endpoint in us-east-1 since 1 December: 225 hours begun by now ($2.25).</summary>
    static async Task<BillingTestHost> StartAsync()
    {
        var host = await BillingTestHost.StartAsync(now: Now);
        var setup = await host.ImportAsync([
            Records.Opened("b-1", "2026-11-01T00:00:00Z", A),
            Records.Opened("b-2", "2026-11-01T00:00:00Z", B),
            Records.Created("b-3", "2026-12-01T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"),
        ]);
        Assert.Equal(3, setup.Accepted);
        return host;
    }

    static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    static async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpClient client, HttpMethod method, string path, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : Json(body) };
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    static async Task<JsonArray> BudgetsAsync(HttpClient client, string query = "") =>
        (await SendAsync(client, HttpMethod.Get, "/api/budgets" + query)) is (HttpStatusCode.OK, JsonArray list) ? list : throw new InvalidOperationException("GET /api/budgets failed");

    static async Task PostTrafficAsync(BillingTestHost host, params string[] records)
    {
        var (status, body) = await SendAsync(host.Http, HttpMethod.Post, "/api/usage/events", $"[{string.Join(',', records)}]");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(records.Length, (int)body!["accepted"]! + (int)body["duplicates"]!);
    }

    [Fact]
    public async Task Operators_manage_any_account_s_budgets_an_account_key_its_own_and_anything_else_is_a_404()
    {
        await using var host = await StartAsync();
        using var a = host.ClientWith((await host.CreateKeyAsync("account", A, "portal-a")).Token);
        using var producer = host.ClientWith((await host.CreateKeyAsync("producer")).Token);

        var (created, budget) = await SendAsync(host.Http, HttpMethod.Post, "/api/budgets", $$"""{"accountId":"{{B}}","amount":"250","thresholds":[90,50],"basis":"forecast","name":"B's cap"}""");
        Assert.Equal(HttpStatusCode.Created, created);
        Assert.Equal((B, "B's cap", "250.00", "USD", "[50,90]", "forecast", "key:"), ((string?)budget!["accountId"], (string?)budget["name"], (string?)budget["amount"],
            (string?)budget["currency"], budget["thresholds"]!.ToJsonString(), (string?)budget["basis"], ((string?)budget["createdBy"])![..4]));
        var idOfB = (string)budget["id"]!;
        // An account key sets its own account's budget without naming it, as a JSON number read exactly.
        var (own, ofA) = await SendAsync(a, HttpMethod.Post, "/api/budgets", """{"amount":100.10}""");
        Assert.Equal((HttpStatusCode.Created, A, "100.10", "[50,80,100]", "actual"), (own, (string?)ofA!["accountId"], (string?)ofA["amount"], ofA["thresholds"]!.ToJsonString(), (string?)ofA["basis"]));

        Assert.Equal([idOfB, (string)ofA["id"]!], (await BudgetsAsync(host.Http)).Select(b => (string)b!["id"]!));
        Assert.Equal([(string)ofA["id"]!], (await BudgetsAsync(a)).Select(b => (string)b!["id"]!));
        Assert.Equal([idOfB], (await BudgetsAsync(host.Http, $"?accountId={B}")).Select(b => (string)b!["id"]!));

        // Another account, however it is asked for, is a route that does not exist; another's budget, one never set.
        var never = Guid.CreateVersion7().ToString("D");
        Assert.Equal((HttpStatusCode.NotFound, "no such resource: GET /api/budgets"), Error(await SendAsync(a, HttpMethod.Get, $"/api/budgets?accountId={B}")));
        Assert.Equal((HttpStatusCode.NotFound, "no such resource: POST /api/budgets"), Error(await SendAsync(a, HttpMethod.Post, "/api/budgets", $$"""{"accountId":"{{B}}","amount":"1"}""")));
        Assert.Equal((HttpStatusCode.NotFound, $"no budget '{idOfB}'"), Error(await SendAsync(a, HttpMethod.Delete, $"/api/budgets/{idOfB}")));
        Assert.Equal((HttpStatusCode.NotFound, $"no budget '{never}'"), Error(await SendAsync(a, HttpMethod.Delete, $"/api/budgets/{never}")));
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(producer, HttpMethod.Get, "/api/budgets")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(producer, HttpMethod.Post, "/api/budgets", """{"accountId":"111122223333","amount":"1"}""")).Status);

        // Bad requests say what is wrong and store nothing.
        Assert.Equal((HttpStatusCode.BadRequest, "amount 1.005 has more than two decimal places (cents)"), Error(await SendAsync(host.Http, HttpMethod.Post, "/api/budgets", $$"""{"accountId":"{{A}}","amount":"1.005"}""")));
        Assert.Equal((HttpStatusCode.BadRequest, "unknown key 'amout': a budget has accountId, amount, thresholds, basis and name"), Error(await SendAsync(host.Http, HttpMethod.Post, "/api/budgets", $$"""{"accountId":"{{A}}","amout":"1"}""")));
        Assert.Equal((HttpStatusCode.BadRequest, "'amount' must be a decimal string like \"100.00\", not true"), Error(await SendAsync(host.Http, HttpMethod.Post, "/api/budgets", $$"""{"accountId":"{{A}}","amount":true}""")));
        Assert.Equal((HttpStatusCode.BadRequest, "'amount' is missing: the budget's amount in USD per period, like \"100.00\""), Error(await SendAsync(host.Http, HttpMethod.Post, "/api/budgets", $$"""{"accountId":"{{A}}"}""")));
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(host.Http, HttpMethod.Post, "/api/budgets", "[1]")).Status);
        Assert.StartsWith("the body is not valid JSON", Error(await SendAsync(host.Http, HttpMethod.Post, "/api/budgets", "{")).Item2);
        Assert.Equal((HttpStatusCode.BadRequest, "'123' is not an account id (12 digits)"), Error(await SendAsync(host.Http, HttpMethod.Get, "/api/budgets?accountId=123")));
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(host.Http, HttpMethod.Delete, "/api/budgets/not-a-uuid")).Status);
        Assert.Equal(2, (await BudgetsAsync(host.Http)).Count);

        var (deleted, gone) = await SendAsync(a, HttpMethod.Delete, $"/api/budgets/{ofA["id"]}");
        Assert.Equal((HttpStatusCode.OK, (string?)ofA["id"]), (deleted, (string?)gone!["id"]));
        Assert.Empty(await BudgetsAsync(a));
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(a, HttpMethod.Delete, $"/api/budgets/{ofA["id"]}")).Status);
        Assert.Equal([idOfB], (await BudgetsAsync(host.Http)).Select(b => (string)b!["id"]!));

        static (HttpStatusCode, string?) Error((HttpStatusCode Status, JsonNode? Body) answer) => (answer.Status, (string?)answer.Body?["error"]);
    }

    [Fact]
    public async Task Crossing_thresholds_raises_one_alert_each_and_duplicates_and_later_traffic_raise_none_again()
    {
        await using var host = await StartAsync();
        var (_, budget) = await SendAsync(host.Http, HttpMethod.Post, "/api/budgets", $$"""{"accountId":"{{A}}","amount":"100.00","thresholds":[50,80,100]}""");
        var id = (string)budget!["id"]!;

        // 5,000 GB at $0.01 and the 225 hours: 52.25, past 50%.
        var first = Records.Traffic("b-t1", "2026-12-10T08:00:00Z", E, "use1-az1", null, 5000 * GiB);
        await PostTrafficAsync(host, first);
        var one = await AlertsAsync(host, id, 1);
        Assert.Equal([("2026-12", 50, "actual", "100.00", "52.25", "USD")], one);

        // 3,000 GB more: 82.25, past 80%; the same records again are duplicates and change nothing.
        var second = Records.Traffic("b-t2", "2026-12-10T08:05:00Z", E, "use1-az1", null, 3000 * GiB);
        await PostTrafficAsync(host, second, first);
        Assert.Equal([("2026-12", 50, "actual", "100.00", "52.25", "USD"), ("2026-12", 80, "actual", "100.00", "82.25", "USD")], await AlertsAsync(host, id, 2));
        await PostTrafficAsync(host, first, second);
        // A record of the same account that crosses nothing is read (its worst case reaches 100%) and raises nothing.
        await PostTrafficAsync(host, Records.Traffic("b-t3", "2026-12-10T08:06:00Z", E, "use1-az1", null, 1700 * GiB));
        await host.TrackBus(TimeSpan.FromSeconds(30)).ExecuteAndWaitAsync((Func<Wolverine.IMessageContext, Task>)(async bus => await bus.SendAsync(new EvaluateBudgets([], Now, [A]))));
        Assert.Equal(2, (await AlertsAsync(host, id, 2)).Count);
        Assert.Equal(2, await host.ScalarAsync("select count(*) from billing.mt_streams where id like 'budget-alert/%'"));
    }

    static async Task<List<(string?, int, string?, string?, string?, string?)>> AlertsAsync(BillingTestHost host, string budgetId, int atLeast)
    {
        var listed = await Eventually.UntilAsync(() => BudgetsAsync(host.Http), list => list.Single(b => (string)b!["id"]! == budgetId)!["alerts"]!.AsArray().Count >= atLeast,
            TimeSpan.FromSeconds(30), $"{atLeast} alerts of budget {budgetId}", describe: list => list.ToJsonString());
        return listed.Single(b => (string)b!["id"]! == budgetId)!["alerts"]!.AsArray()
            .Select(a => ((string?)a!["period"], (int)a["threshold"]!, (string?)a["basis"], (string?)a["amount"], (string?)a["cost"], (string?)a["currency"])).ToList();
    }

    [Fact]
    public async Task Two_evaluations_that_both_decide_a_crossing_store_one_alert_the_other_fails_on_the_alert_s_key()
    {
        await using var host = await StartAsync();
        var services = host.Services;
        var created = new BudgetCreated(Guid.CreateVersion7(), A, 1.00m, [80], BudgetBasis.Actual, null, Now, "cli:test");
        var budget = Budget.Create(created);
        var message = new EvaluateBudgets([], Now, [A]);
        // Two evaluators (as two nodes would be), each reading the spend before either commits: both decide the crossing.
        await using var first = host.Store.LightweightSession();
        await using var second = host.Store.LightweightSession();
        var readFirst = await ReadAsync(first);
        var readSecond = await ReadAsync(second);
        Assert.Equal(2.25m, Assert.Single(readFirst.Spend).Actual.Total);
        Apply(first, readFirst);
        Apply(second, readSecond);

        await first.SaveChangesAsync();
        await Assert.ThrowsAsync<ExistingStreamIdCollisionException>(() => second.SaveChangesAsync());

        await using (var query = host.Store.QuerySession())
        {
            var alert = Assert.Single(await query.Query<BudgetAlert>().ToListAsync());
            Assert.Equal((budget.BudgetId, "2026-12", 80, 2.25m, $"budget-alert/{budget.BudgetId:N}/2026-12/80/actual"), (alert.BudgetId, alert.Period, alert.Threshold, alert.Cost, alert.Id));
        }
        // The budget stored, the evaluator's own reading (the retry of the one that failed, or the watch's) finds the alert raised.
        await using (var session = host.Store.LightweightSession())
        {
            session.Events.StartStream<Budget>(Budget.StreamKey(budget.BudgetId), created);
            await session.SaveChangesAsync();
        }
        await using var third = host.Store.LightweightSession();
        var again = await EvaluateBudgetsHandler.LoadAsync(message, new Wolverine.Envelope(message) { Attempts = 2 }, third, new BudgetGates(PriceBook.Default), host.Clock,
            host.Settings.LateWindow, services.GetRequiredService<PriceBook>(), CancellationToken.None);
        // A budget just seen watches the running period and the one just ended, not closed yet.
        Assert.Equal([("2026-12", 2.25m), ("2026-11", 0m)], again.Spend.Select(s => (s.Period.ToString(), s.Actual.Total)));
        var (ops, outgoing) = EvaluateBudgetsHandler.Handle(message, again, new BudgetGates(PriceBook.Default));
        Assert.Empty(outgoing);
        Assert.Single(ops); // the reading remembered, nothing raised
        Assert.Equal(1, await host.ScalarAsync("select count(*) from billing.mt_streams where id like 'budget-alert/%'"));

        async Task<BudgetReadings> ReadAsync(IDocumentSession session)
        {
            var spend = await Billing.Invoicing.Spend.SpendQuery.ForAccountAsync(session, A, new BillingPeriod(2026, 12), Now, host.Settings.LateWindow, services.GetRequiredService<PriceBook>(), CancellationToken.None);
            return new BudgetReadings(Now, Now, [budget], [spend], new HashSet<string>());
        }

        void Apply(IDocumentSession session, BudgetReadings readings)
        {
            var (writes, messages) = EvaluateBudgetsHandler.Handle(message, readings, new BudgetGates(PriceBook.Default));
            var crossed = Assert.Single(messages.OfType<BudgetThresholdCrossed>());
            Assert.Equal((budget.BudgetId, A, "2026-12", 80, "actual", "1.00", "2.25", "USD", Now),
                (crossed.BudgetId, crossed.AccountId, crossed.Period, crossed.Threshold, crossed.Basis, crossed.Amount, crossed.Cost, crossed.Currency, crossed.CrossedAt));
            foreach (var write in writes) write.Execute(session);
        }
    }
}
