using System.Globalization;

namespace Billing.Host.Features.Webhooks;

/// <summary>
/// How webhooks are delivered, from the environment: BILLING_WEBHOOK_ALLOW_PRIVATE=1 lets URLs reach
/// loopback and private addresses (tests, a receiver inside the same network; default refused),
/// BILLING_WEBHOOK_TIMEOUT_SECONDS (10: one attempt from connect to the last byte read),
/// BILLING_WEBHOOK_MAX_RESPONSE_BYTES (65536: the most of a response body read),
/// BILLING_WEBHOOK_RETRY_SECONDS (5: the first retry's delay, doubled at each retry up to 4 hours) and
/// BILLING_WEBHOOK_RETRY_HOURS (24: no retry is scheduled later than this after a run's first attempt).
/// <see cref="Deliver"/> is false for the CLI's verbs: only `serve` nodes post to receivers (their
/// network is the one an operator allows out), so a `billing close` run elsewhere leaves its events
/// queued for them.
/// </summary>
public sealed record WebhookSettings(
    bool AllowPrivate = false,
    double TimeoutSeconds = 10,
    int MaxResponseBytes = 64 * 1024,
    double RetrySeconds = 5,
    double RetryHours = 24,
    bool Deliver = true)
{
    public static readonly WebhookSettings Default = new();

    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    public static WebhookSettings FromEnvironment()
    {
        string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v.Trim() : null;
        double Number(string name, double fallback) =>
            Env(name) is not { } text ? fallback
            : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 ? value
            : throw new InvalidOperationException($"{name} '{text}' is not a positive number");
        return new WebhookSettings(
            AllowPrivate: Env("BILLING_WEBHOOK_ALLOW_PRIVATE") is "1" or "true",
            TimeoutSeconds: Number("BILLING_WEBHOOK_TIMEOUT_SECONDS", 10),
            MaxResponseBytes: (int)Number("BILLING_WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024),
            RetrySeconds: Number("BILLING_WEBHOOK_RETRY_SECONDS", 5),
            RetryHours: Number("BILLING_WEBHOOK_RETRY_HOURS", 24));
    }
}
