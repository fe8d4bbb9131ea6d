using Billing.Host.Access;
using Billing.Host.Features.Budgets;
using Billing.Host.Features.Webhooks;
using Billing.Tests.Support;
using Marten;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;

namespace Billing.Tests.Webhooks;

/// <summary>
/// Deliveries by the real service in-process (PostgreSQL queues, Marten, a real HTTP receiver):
/// the spend side's alert is published as that side publishes it, fanned out to the endpoints that
/// receive it, signed, logged; the SSRF rules hold on a real attempt; every attempt has a deadline,
/// a response cap and follows no redirect.
/// </summary>
public sealed class WebhookDeliveryTests
{
    const string AccountA = "111122223333";
    const string AccountB = "444455556666";
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    static BudgetThresholdCrossed Alert(string account, int threshold = 80) =>
        new(Guid.Parse("7d8c3a51-2b4e-4f60-9c1d-5e6f7a8b9c0d"), account, "2026-11", threshold, "actual", "100.00", "80.42", "USD", Instant.FromUtc(2026, 11, 20, 8, 30));

    static Task<(WebhookEndpoint Endpoint, string? Warning)> CreateAsync(BillingTestHost host, string url, string? account = null, string? events = null) =>
        WebhookCommands.CreateAsync(host.Services, url, account, events, Actor.Cli("test"), CancellationToken.None);

    static async Task<List<WebhookDelivery>> DeliveriesAsync(BillingTestHost host)
    {
        await using var session = host.Store.QuerySession();
        return (await session.Query<WebhookDelivery>().ToListAsync()).ToList();
    }

    [Fact(Timeout = 180_000)]
    public async Task An_alert_reaches_the_endpoints_that_receive_it_once_signed_even_when_published_twice()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { Webhooks = new WebhookSettings(AllowPrivate: true, RetrySeconds: 1) });
        var all = (await CreateAsync(host, receiver.Url("/all"), events: "budget.threshold_crossed")).Endpoint;
        var a = (await CreateAsync(host, receiver.Url("/a"), account: AccountA)).Endpoint;
        var b = (await CreateAsync(host, receiver.Url("/b"), account: AccountB, events: "budget.threshold_crossed")).Endpoint;
        var invoices = (await CreateAsync(host, receiver.Url("/invoices"), events: "invoice.pdf_ready,invoice.issued")).Endpoint;
        Assert.Equal(["invoice.issued", "invoice.pdf_ready"], invoices.Events);
        Assert.Matches("^whsec_[A-Za-z0-9+/]{43}=$", all.Secret);
        Assert.Equal(32, Convert.FromBase64String(all.Secret["whsec_".Length..]).Length);

        // Published as the spend side publishes it, twice (a duplicate); each handling is awaited with the attempts it sends.
        await host.TrackBus(Wait).PublishMessageAndWaitAsync(Alert(AccountA));
        await host.TrackBus(Wait).PublishMessageAndWaitAsync(Alert(AccountA));

        Assert.Single(receiver.At("/all"));
        Assert.Single(receiver.At("/a"));
        Assert.Empty(receiver.At("/b"));
        Assert.Empty(receiver.At("/invoices"));
        var sent = receiver.At("/all")[0];
        Assert.Equal("POST", sent.Headers["method"]);
        Assert.StartsWith("application/json", sent.Headers["content-type"], StringComparison.Ordinal);
        Assert.Equal(sent.Id, receiver.At("/a")[0].Id);
        Assert.Equal(BillingEvent.Crossed(Alert(AccountA)).MessageId, sent.Id);
        Assert.Equal(BillingEvent.Crossed(Alert(AccountA)).Body(), sent.Text);
        Assert.Equal("budget.threshold_crossed", sent.Type);
        Assert.Equal((AccountA, 80, "actual", "80.42", "100.00"), (sent.Data.GetProperty("accountId").GetString(), sent.Data.GetProperty("threshold").GetInt32(),
            sent.Data.GetProperty("basis").GetString(), sent.Data.GetProperty("cost").GetString(), sent.Data.GetProperty("amount").GetString()));
        // The timestamp is the attempt's, on the service's clock, in seconds.
        Assert.Equal(host.Clock.GetCurrentInstant().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), sent.Timestamp);
        Assert.Equal(["ok", "ok"], await IndependentSignature.CheckAsync([(all.Secret, sent), (a.Secret, receiver.At("/a")[0])]));
        // Each endpoint's own secret signs its copy: the other's does not verify it.
        Assert.StartsWith("bad", (await IndependentSignature.CheckAsync([(b.Secret, sent)]))[0], StringComparison.Ordinal);

        var deliveries = await DeliveriesAsync(host);
        Assert.Equal(new[] { a.Id, all.Id }.Order(StringComparer.Ordinal), deliveries.Select(d => d.EndpointId).Order(StringComparer.Ordinal).ToArray());
        Assert.All(deliveries, d => Assert.Equal((DeliveryStatus.Succeeded, 1, "succeeded", (int?)200, "event"), (d.Status, d.Attempts.Count, d.Attempts[0].Status, d.Attempts[0].ResponseCode, d.Attempts[0].Trigger)));
        Assert.Equal(1, await host.ScalarAsync("select count(*) from billing.mt_doc_webhookmessage"));

        // Another threshold is another message; a deleted endpoint gets nothing more.
        await WebhookCommands.DeleteAsync(host.Services, a.Id, Actor.Cli("test"), CancellationToken.None);
        Assert.Equal(new[] { all.Id, b.Id, invoices.Id }.Order(StringComparer.Ordinal), (await WebhookCommands.ListAsync(host.Services, CancellationToken.None)).Select(e => e.Id).Order(StringComparer.Ordinal).ToArray());
        await host.TrackBus(Wait).PublishMessageAndWaitAsync(Alert(AccountA, threshold: 100));
        Assert.Equal(2, receiver.At("/all").Count);
        Assert.NotEqual(sent.Id, receiver.At("/all")[1].Id);
        Assert.Single(receiver.At("/a"));
    }

    [Fact(Timeout = 180_000)]
    public async Task Refuses_at_creation_and_at_the_attempt_every_address_that_is_not_public()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        // The window ends before the first retry: one attempt each.
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { Webhooks = new WebhookSettings(AllowPrivate: false, RetryHours: 0.0001) });
        var port = new Uri(receiver.BaseUrl).Port;

        foreach (var (url, reason) in new[]
                 {
                     ($"http://localhost:{port}/in", "localhost resolves to"),
                     ($"http://127.0.0.1:{port}/in", "127.0.0.1 is a loopback address"),
                     ($"http://[::ffff:127.0.0.1]:{port}/in", "IPv4-mapped for 127.0.0.1"),
                     ("http://169.254.169.254/latest/meta-data/", "link-local"),
                     ("http://10.0.0.1/in", "private address"),
                     ("ftp://hooks.example.com/in", "http or https, not ftp"),
                 })
        {
            var refused = await Assert.ThrowsAsync<Billing.Host.CliException>(() => CreateAsync(host, url));
            Assert.Contains(reason, refused.Message, StringComparison.Ordinal);
        }
        var badType = await Assert.ThrowsAsync<Billing.Host.CliException>(() => CreateAsync(host, "https://hooks.example.com/in", events: "invoice.issued,budget.crossed"));
        Assert.Equal("unknown event type 'budget.crossed'; the types are budget.threshold_crossed, invoice.issued, invoice.pdf_ready", badType.Message);
        var badAccount = await Assert.ThrowsAsync<Billing.Host.CliException>(() => CreateAsync(host, "https://hooks.example.com/in", account: "1111"));
        Assert.Equal("--account is an account's id (12 digits), not '1111'", badAccount.Message);
        Assert.Empty(await WebhookCommands.ListAsync(host.Services, CancellationToken.None));

        // Endpoints whose names resolved to public addresses when they were created and resolve to
        // loopback now (DNS rebinding), or were created while private addresses were allowed: stored as such.
        var endpoints = new[] { $"http://localhost:{port}/rebound", $"http://127.0.0.1:{port}/literal", $"http://[::ffff:127.0.0.1]:{port}/mapped" }
            .Select((url, i) => new WebhookEndpoint { Id = $"ep_ssrf{i}", Url = url, Events = BillingEvent.Types, Secret = "whsec_" + Convert.ToBase64String(new byte[32]), CreatedAt = host.Clock.GetCurrentInstant(), CreatedBy = "cli:test" })
            .ToList();
        await using (var session = host.Store.LightweightSession())
        {
            session.Store(endpoints.ToArray());
            await session.SaveChangesAsync();
        }
        await host.TrackBus(Wait).PublishMessageAndWaitAsync(Alert(AccountA));

        Assert.Empty(receiver.All);
        var deliveries = (await DeliveriesAsync(host)).ToDictionary(d => d.EndpointId);
        Assert.Equal(3, deliveries.Count);
        foreach (var (id, reason) in new[] { ("ep_ssrf0", "localhost resolves to"), ("ep_ssrf1", "127.0.0.1 is a loopback address"), ("ep_ssrf2", "IPv4-mapped for 127.0.0.1 is a loopback") })
        {
            var d = deliveries[id];
            Assert.Equal(DeliveryStatus.Failed, d.Status);
            var attempt = Assert.Single(d.Attempts);
            Assert.Equal(("refused", (int?)null), (attempt.Status, attempt.ResponseCode));
            Assert.Contains(reason, attempt.Error, StringComparison.Ordinal);
            Assert.Contains("BILLING_WEBHOOK_ALLOW_PRIVATE=1", attempt.Error, StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 180_000)]
    public async Task An_attempt_has_a_deadline_a_response_cap_and_follows_no_redirect()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer("/slow", async (_, ctx) => { await Task.Delay(TimeSpan.FromSeconds(5), ctx.RequestAborted); ctx.Response.StatusCode = 200; });
        receiver.Answer("/redirect", (_, ctx) => { ctx.Response.StatusCode = 307; ctx.Response.Headers.Location = receiver.Url("/target"); return Task.CompletedTask; });
        receiver.Answer("/big", async (_, ctx) =>
        {
            ctx.Response.StatusCode = 200;
            var chunk = new byte[64 * 1024];
            Array.Fill(chunk, (byte)'x');
            try
            {
                for (var i = 0; i < 1024; i++) await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted); // 64 MiB unless cut off
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // the sender stopped reading and closed the connection
            }
        });
        receiver.Answer("/error", (_, ctx) => { ctx.Response.StatusCode = 500; return ctx.Response.WriteAsync("database is down"); });
        await using var host = await BillingTestHost.StartAsync(configure: s => s with
        {
            Webhooks = new WebhookSettings(AllowPrivate: true, TimeoutSeconds: 1, MaxResponseBytes: 4096, RetryHours: 0.0001),
        });
        var ids = new Dictionary<string, string>();
        foreach (var path in new[] { "/slow", "/redirect", "/big", "/error" })
            ids[path] = (await CreateAsync(host, receiver.Url(path), events: "budget.threshold_crossed")).Endpoint.Id;

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await host.TrackBus(Wait).PublishMessageAndWaitAsync(Alert(AccountB));
        var attempts = (await DeliveriesAsync(host)).ToDictionary(d => d.EndpointId, d => Assert.Single(d.Attempts));

        var slow = attempts[ids["/slow"]];
        Assert.Equal(("failed", (int?)null, "no complete answer within 1 s"), (slow.Status, slow.ResponseCode, slow.Error));
        Assert.InRange(slow.DurationMs, 900, 4000);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"the attempts took {watch.Elapsed}");

        var redirect = attempts[ids["/redirect"]];
        Assert.Equal(("failed", (int?)307), (redirect.Status, redirect.ResponseCode));
        Assert.Equal($"answered 307 (redirect to {receiver.Url("/target")}): redirects are not followed", redirect.Error);
        Assert.Empty(receiver.At("/target"));

        var big = attempts[ids["/big"]];
        Assert.Equal(("succeeded", (int?)200, "the answer is longer than 4,096 bytes: the rest was not read"), (big.Status, big.ResponseCode, big.Error));
        Assert.Equal(new string('x', WebhookSender.KeptResponseChars), big.Response);

        var error = attempts[ids["/error"]];
        Assert.Equal(("failed", (int?)500, "answered 500 Internal Server Error", "database is down"), (error.Status, error.ResponseCode, error.Error, error.Response));
        Assert.All(receiver.All, r => Assert.Equal(BillingEvent.Crossed(Alert(AccountB)).MessageId, r.Id));
    }
}
