using System.Net;
using System.Text.Json;
using Billing.Host.Features;
using Billing.Host.Features.Budgets;
using Billing.Host.Features.Webhooks;
using NodaTime;

namespace Billing.Tests.Webhooks;

/// <summary>The webhook rules without a network or a database: which addresses are refused, which URLs, the retry schedule, the message ids and bodies, the signature.</summary>
public sealed class WebhookRulesTests
{
    [Theory]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.255.255.254", "loopback")]
    [InlineData("0.0.0.0", "\"this network\"")]
    [InlineData("10.1.2.3", "private")]
    [InlineData("172.16.0.1", "private")]
    [InlineData("172.31.255.255", "private")]
    [InlineData("192.168.1.10", "private")]
    [InlineData("169.254.169.254", "link-local")]
    [InlineData("100.64.0.1", "shared (carrier-grade NAT)")]
    [InlineData("100.127.255.255", "shared (carrier-grade NAT)")]
    [InlineData("192.0.2.7", "documentation")]
    [InlineData("198.18.0.1", "benchmarking")]
    [InlineData("224.0.0.251", "multicast")]
    [InlineData("255.255.255.255", "reserved or broadcast")]
    [InlineData("::", "unspecified, loopback or IPv4-compatible")]
    [InlineData("::1", "unspecified, loopback or IPv4-compatible")]
    [InlineData("fc00::1", "unique local")]
    [InlineData("fd12:3456:789a::1", "unique local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("febf:ffff::1", "link-local")]
    [InlineData("ff02::1", "multicast")]
    [InlineData("2001:db8::1", "documentation")]
    [InlineData("::ffff:127.0.0.1", "IPv4-mapped for 127.0.0.1 is a loopback")]
    [InlineData("::ffff:10.0.0.1", "IPv4-mapped for 10.0.0.1 is a private")]
    [InlineData("::ffff:169.254.169.254", "IPv4-mapped for 169.254.169.254 is a link-local")]
    [InlineData("64:ff9b::7f00:1", "NAT64 for 127.0.0.1 is a loopback")]
    [InlineData("2002:a00:1::1", "6to4 for 10.0.0.1 is a private")]
    public void Refuses_loopback_private_link_local_and_the_like(string address, string kind)
    {
        var refusal = WebhookAddresses.Refusal(IPAddress.Parse(address));
        Assert.NotNull(refusal);
        Assert.Contains(kind, refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void A_scoped_link_local_address_is_refused_by_its_prefix() =>
        Assert.Contains("link-local", WebhookAddresses.Refusal(IPAddress.Parse("fe80::1%2")), StringComparison.Ordinal);

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("100.63.255.255")] // just below 100.64/10
    [InlineData("100.128.0.1")] // just above it
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("169.253.255.255")]
    [InlineData("192.169.0.1")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")]
    [InlineData("2002:808:808::1")]
    [InlineData("fbff::1")] // just below fc00::/7
    [InlineData("fec0::1")] // not link-local: site-local, refused under its own name
    public void Allows_public_addresses_and_judges_the_rest_by_their_own_range(string address)
    {
        var refusal = WebhookAddresses.Refusal(IPAddress.Parse(address));
        if (address == "fec0::1") Assert.Contains("site-local", refusal, StringComparison.Ordinal);
        else Assert.Null(refusal);
    }

    [Theory]
    [InlineData("ftp://hooks.example.com/in", "http or https, not ftp")]
    [InlineData("file:///etc/passwd", "http or https, not file")]
    [InlineData("gopher://hooks.example.com:70/", "http or https, not gopher")]
    [InlineData("javascript:alert(1)", "http or https, not javascript")]
    [InlineData("/relative/path", "not an absolute URL")]
    [InlineData("hooks.example.com/in", "not an absolute URL")]
    [InlineData("https://user:secret@hooks.example.com/in", "carries no user or password")]
    [InlineData("http://127.0.0.1:8080/in", "127.0.0.1 is a loopback address")]
    [InlineData("http://[::1]/in", "::1 is a unspecified, loopback")]
    [InlineData("http://[::ffff:7f00:1]/in", "IPv4-mapped for 127.0.0.1")]
    [InlineData("http://0.0.0.0/in", "\"this network\"")]
    [InlineData("http://2130706433/in", "127.0.0.1 is a loopback")] // 127.0.0.1 written as one number
    [InlineData("http://0x7f.1/in", "127.0.0.1 is a loopback")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("https://[fe80::1]/in", "link-local")]
    [InlineData("https://100.64.1.1/in", "carrier-grade NAT")]
    public void Refuses_urls_that_can_never_be_delivered_to(string url, string reason)
    {
        var refusal = WebhookAddresses.RefuseUrl(url, allowPrivate: false, out var uri);
        Assert.NotNull(refusal);
        Assert.Contains(reason, refusal, StringComparison.Ordinal);
        Assert.Null(uri);
    }

    [Fact]
    public void Private_literals_are_allowed_only_when_allowed_and_the_scheme_rule_stays()
    {
        Assert.Null(WebhookAddresses.RefuseUrl("http://127.0.0.1:8080/in", allowPrivate: true, out var uri));
        Assert.Equal("http://127.0.0.1:8080/in", uri!.AbsoluteUri);
        Assert.Contains("not ftp", WebhookAddresses.RefuseUrl("ftp://127.0.0.1/", allowPrivate: true, out _), StringComparison.Ordinal);
        Assert.Null(WebhookAddresses.RefuseUrl("https://hooks.example.com/in", allowPrivate: false, out _));
    }

    [Fact]
    public void A_name_is_refused_when_any_address_it_resolves_to_is_refused()
    {
        // DNS rebinding answers with a public address and a private one; either may be the one connected to.
        var refusal = WebhookAddresses.RefuseResolved("hooks.example.com", [IPAddress.Parse("93.184.216.34"), IPAddress.Parse("10.0.0.5")]);
        Assert.Equal("hooks.example.com resolves to 10.0.0.5 is a private address (10.0.0.0/8); webhooks reach only public addresses (BILLING_WEBHOOK_ALLOW_PRIVATE=1 allows private ones)", refusal);
        Assert.Null(WebhookAddresses.RefuseResolved("hooks.example.com", [IPAddress.Parse("93.184.216.34"), IPAddress.Parse("2606:2800:220:1::1")]));
        Assert.Equal("nowhere.example resolves to no address", WebhookAddresses.RefuseResolved("nowhere.example", []));
    }

    static readonly WebhookSettings Defaults = WebhookSettings.Default;

    [Fact]
    public void Retries_back_off_exponentially_up_to_four_hours()
    {
        Assert.Equal([5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 14400, 14400],
            Enumerable.Range(1, 14).Select(n => WebhookRetries.Delay(n, Defaults).TotalSeconds).ToArray());
        Assert.Equal(TimeSpan.FromHours(4), WebhookRetries.Delay(60, Defaults));
    }

    [Fact]
    public void A_receiver_that_never_answers_gets_17_attempts_all_within_24_hours()
    {
        var start = Instant.FromUtc(2026, 12, 3, 10, 0);
        var delivery = new WebhookDelivery { Id = "dlv_1", RunStartedAt = start };
        var failed = new AttemptOutcome(AttemptOutcome.Failed, 503, 12, "answered 503 Service Unavailable", null);
        var at = start;
        var attempts = new List<Instant>();
        for (var n = 1; ; n++)
        {
            attempts.Add(at);
            var decision = WebhookRetries.Decide(delivery, new DeliverWebhook("dlv_1", 1, n), at, failed, endpointGone: false, Defaults);
            Assert.Equal(new WebhookAttempt(1, n, n == 1 ? "event" : "retry", at, "failed", 503, 12, "answered 503 Service Unavailable", null), decision.Logged);
            if (decision.NextAttemptAt is not { } next)
            {
                Assert.Equal(DeliveryStatus.Failed, decision.Status);
                break;
            }
            Assert.Equal(DeliveryStatus.Pending, decision.Status);
            Assert.Equal(next - at, Duration.FromTimeSpan(decision.RetryIn!.Value));
            at = next;
        }
        Assert.Equal(17, attempts.Count);
        // 5 s doubling to 10,240 s (5.69 h in all), then every 4 h: the last at 21.69 h; the next would be at 25.69 h.
        Assert.Equal(Duration.FromSeconds(20475) + Duration.FromHours(16), attempts[^1] - start);
        Assert.True(attempts[^1] - start <= Duration.FromHours(24));
    }

    [Fact]
    public void A_success_or_a_deleted_endpoint_ends_the_run()
    {
        var delivery = new WebhookDelivery { Id = "dlv_1", RunStartedAt = Instant.FromUtc(2026, 12, 3, 10, 0) };
        var at = Instant.FromUtc(2026, 12, 3, 10, 0, 5);
        var ok = WebhookRetries.Decide(delivery, new DeliverWebhook("dlv_1", 2, 1), at, new AttemptOutcome(AttemptOutcome.Succeeded, 204, 3, null, null), false, Defaults);
        Assert.Equal((DeliveryStatus.Succeeded, (Instant?)null, "replay"), (ok.Status, ok.NextAttemptAt, ok.Logged.Trigger));
        var gone = WebhookRetries.Decide(delivery, new DeliverWebhook("dlv_1", 1, 3), at, new AttemptOutcome(AttemptOutcome.Refused, null, 0, "endpoint ep_1 was deleted", null), true, Defaults);
        Assert.Equal((DeliveryStatus.Failed, (Instant?)null, "retry"), (gone.Status, gone.NextAttemptAt, gone.Logged.Trigger));
    }

    [Fact]
    public void Signs_as_the_standard_says_and_as_python_checks()
    {
        // The Standard Webhooks specification's own example.
        var message = new WebhookMessage { Id = "msg_p5jXN8AQM9LWM0D4loKWxJek", Body = "{\"test\": 2432232314}" };
        var (id, timestamp, signature) = WebhookSender.Headers(message, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Instant.FromUnixTimeSeconds(1614265330));
        Assert.Equal(("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), (id, timestamp, signature));
    }

    [Fact]
    public async Task A_signature_over_non_ascii_text_verifies_in_python()
    {
        var alert = new BudgetThresholdCrossed(Guid.Parse("0b6f5c1e-8f7a-4a51-9a0e-3d1c2b4a5f60"), "111122223333", "2026-11", 80, "actual", "100.00", "80.42", "USD", Instant.FromUtc(2026, 11, 20, 8, 30));
        var e = BillingEvent.Crossed(alert);
        var message = new WebhookMessage { Id = e.MessageId, Body = e.Body().Replace("USD", "USD ü€", StringComparison.Ordinal) };
        const string secret = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
        var (id, timestamp, signature) = WebhookSender.Headers(message, secret, Instant.FromUtc(2026, 12, 3, 10, 0));
        var request = new WebhookReceiver.Request("/", new Dictionary<string, string> { ["webhook-id"] = id, ["webhook-timestamp"] = timestamp, ["webhook-signature"] = signature },
            System.Text.Encoding.UTF8.GetBytes(message.Body), DateTime.UtcNow);
        Assert.Equal(["ok"], await IndependentSignature.CheckAsync([(secret, request)]));
        var tampered = request with { Body = System.Text.Encoding.UTF8.GetBytes(message.Body.Replace("80.42", "80.43", StringComparison.Ordinal)) };
        Assert.StartsWith("bad", (await IndependentSignature.CheckAsync([(secret, tampered)]))[0], StringComparison.Ordinal);
    }

    [Fact]
    public void An_alert_is_one_message_whatever_sends_it_and_its_body_is_the_standard_shape()
    {
        var alert = new BudgetThresholdCrossed(Guid.Parse("0b6f5c1e-8f7a-4a51-9a0e-3d1c2b4a5f60"), "111122223333", "2026-11", 80, "forecast", "100.00", "80.42", "USD", Instant.FromUtc(2026, 11, 20, 8, 30));
        var e = BillingEvent.Crossed(alert);
        Assert.Equal(e.MessageId, BillingEvent.Crossed(alert with { }).MessageId);
        Assert.NotEqual(e.MessageId, BillingEvent.Crossed(alert with { Threshold = 100 }).MessageId);
        Assert.NotEqual(e.MessageId, BillingEvent.Crossed(alert with { Basis = "actual" }).MessageId);
        Assert.Matches("^msg_[0-9a-f]{32}$", e.MessageId);
        Assert.Equal("""{"type":"budget.threshold_crossed","timestamp":"2026-11-20T08:30:00Z","data":{"budgetId":"0b6f5c1e-8f7a-4a51-9a0e-3d1c2b4a5f60","accountId":"111122223333","period":"2026-11","threshold":80,"basis":"forecast","amount":"100.00","cost":"80.42","currency":"USD","crossedAt":"2026-11-20T08:30:00Z"}}""", e.Body());
        var pdf = BillingEvent.PdfReady(new InvoiceIssuedNotice("INV-2026-000042", "111122223333", "2026-11", 8.44m, "USD"), "ab12", Instant.FromUtc(2026, 12, 2, 0, 0, 1));
        Assert.Equal("""{"type":"invoice.pdf_ready","timestamp":"2026-12-02T00:00:01Z","data":{"number":"INV-2026-000042","accountId":"111122223333","period":"2026-11","currency":"USD","total":"8.44","pdfSha256":"ab12","pdf":"/api/invoices/INV-2026-000042/pdf"}}""", pdf.Body());
        using var _ = JsonDocument.Parse(pdf.Body());
    }

    [Fact]
    public void An_endpoint_receives_its_types_and_when_scoped_its_account_only()
    {
        var e = BillingEvent.Crossed(new BudgetThresholdCrossed(Guid.NewGuid(), "111122223333", "2026-11", 50, "actual", "10.00", "5.00", "USD", Instant.FromUtc(2026, 11, 2, 0, 0)));
        Assert.True(new WebhookEndpoint { Events = BillingEvent.Types }.Receives(e));
        Assert.True(new WebhookEndpoint { Events = ["budget.threshold_crossed"], AccountId = "111122223333" }.Receives(e));
        Assert.False(new WebhookEndpoint { Events = ["budget.threshold_crossed"], AccountId = "444455556666" }.Receives(e));
        Assert.False(new WebhookEndpoint { Events = ["invoice.issued", "invoice.pdf_ready"] }.Receives(e));
        Assert.False(new WebhookEndpoint { Events = BillingEvent.Types, DeletedAt = Instant.FromUtc(2026, 11, 1, 0, 0) }.Receives(e));
    }
}
