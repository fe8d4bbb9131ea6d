using Marten;
using Marten.Patching;
using NodaTime;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace Billing.Host.Features.Webhooks;

/// <summary>Make attempt <paramref name="Attempt"/> of run <paramref name="Run"/> of a delivery (sent at once for the first, scheduled for a retry).</summary>
public sealed record DeliverWebhook(string DeliveryId, int Run, int Attempt)
{
    /// <summary>What started this attempt: the event itself, a retry, or an operator's replay.</summary>
    public string Trigger => Attempt > 1 ? "retry" : Run > 1 ? "replay" : "event";
}

/// <summary>An attempt made (or null when there was none to make: the delivery moved on to a newer run, or this attempt is logged already).</summary>
public sealed record AttemptMade(WebhookDelivery Delivery, Instant At, AttemptOutcome Outcome, bool EndpointDeleted = false);

/// <summary>What follows an attempt: the record to log, the delivery's status, and when the next attempt is due (none when it succeeded or gave up).</summary>
public sealed record AttemptDecision(WebhookAttempt Logged, string Status, Instant? NextAttemptAt, TimeSpan? RetryIn);

/// <summary>
/// Exponential backoff, pure: after attempt n fails, the next is <c>BILLING_WEBHOOK_RETRY_SECONDS × 2^(n-1)</c>
/// later (5 s, 10 s, 20 s, … by default), each wait at most 4 hours, and none is scheduled past the
/// retry window (24 h) after the run's first attempt: about 17 attempts for an endpoint that never answers.
/// A deleted endpoint is not retried.
/// </summary>
public static class WebhookRetries
{
    public static readonly TimeSpan MaxDelay = TimeSpan.FromHours(4);

    /// <summary>How long after failed attempt <paramref name="attempt"/> the next one is made.</summary>
    public static TimeSpan Delay(int attempt, WebhookSettings settings)
    {
        var seconds = settings.RetrySeconds * Math.Pow(2, Math.Min(attempt - 1, 40));
        return seconds >= MaxDelay.TotalSeconds ? MaxDelay : TimeSpan.FromSeconds(seconds);
    }

    public static AttemptDecision Decide(WebhookDelivery delivery, DeliverWebhook command, Instant at, AttemptOutcome outcome, bool endpointGone, WebhookSettings settings)
    {
        var logged = new WebhookAttempt(command.Run, command.Attempt, command.Trigger, at, outcome.Status, outcome.ResponseCode, outcome.DurationMs, outcome.Error, outcome.Response);
        if (outcome.IsSuccess) return new AttemptDecision(logged, DeliveryStatus.Succeeded, null, null);
        if (endpointGone) return new AttemptDecision(logged, DeliveryStatus.Failed, null, null);
        var delay = Delay(command.Attempt, settings);
        var next = at + Duration.FromTimeSpan(delay);
        return next > delivery.RunStartedAt + Duration.FromHours(settings.RetryHours)
            ? new AttemptDecision(logged, DeliveryStatus.Failed, null, null)
            : new AttemptDecision(logged, DeliveryStatus.Pending, next, delay);
    }
}

/// <summary>
/// One attempt of one delivery. <see cref="LoadAsync"/> reads the delivery, its message and endpoint
/// and makes the POST (outside any transaction: nothing is locked while the receiver answers);
/// <see cref="Handle"/> decides, purely, what to log and whether to schedule a retry. The retry is a
/// scheduled message on the PostgreSQL queue <c>webhook_deliveries</c>, stored in the same transaction
/// as the attempt's record, so it survives restarts and is made by whichever node polls when it comes due.
/// </summary>
public static class DeliverWebhookHandler
{
    public static void Configure(HandlerChain chain) =>
        chain.OnException<NpgsqlException>().RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));

    public static async Task<AttemptMade?> LoadAsync(DeliverWebhook command, IQuerySession session, WebhookSender sender, IClock clock, CancellationToken ct)
    {
        var delivery = await session.LoadAsync<WebhookDelivery>(command.DeliveryId, ct);
        if (delivery is null || delivery.Run != command.Run || delivery.Status != DeliveryStatus.Pending
            || delivery.Attempts.Any(a => a.Run == command.Run && a.Attempt == command.Attempt))
            return null;
        var message = await session.LoadAsync<WebhookMessage>(delivery.MessageId, ct) ?? throw new InvalidOperationException($"delivery {delivery.Id} has no message {delivery.MessageId}");
        var endpoint = await session.LoadAsync<WebhookEndpoint>(delivery.EndpointId, ct);
        var at = clock.GetCurrentInstant();
        if (endpoint is null || endpoint.DeletedAt is not null)
            return new AttemptMade(delivery, at, new AttemptOutcome(AttemptOutcome.Refused, null, 0, $"endpoint {delivery.EndpointId} was deleted", null), EndpointDeleted: true);
        return new AttemptMade(delivery, at, await sender.SendAsync(endpoint, message, at, ct));
    }

    public static (IEnumerable<IMartenOp>, OutgoingMessages) Handle(DeliverWebhook command, AttemptMade? made, WebhookSettings settings)
    {
        var outgoing = new OutgoingMessages();
        if (made is null) return ([], outgoing);
        var decision = WebhookRetries.Decide(made.Delivery, command, made.At, made.Outcome, made.EndpointDeleted, settings);
        if (decision.RetryIn is { } delay) outgoing.Delay(command with { Attempt = command.Attempt + 1 }, delay);
        return ([new LogAttempt(command.DeliveryId, command.Run, decision)], outgoing);
    }

    /// <summary>
    /// The attempt is appended whatever happened meanwhile (every attempt is logged); the status moves
    /// only while the delivery is still on this run, so a replay started during the POST keeps its own.
    /// Both are single-statement patches: no read-modify-write races with a replay on another node.
    /// </summary>
    sealed record LogAttempt(string DeliveryId, int Run, AttemptDecision Decision) : IMartenOp
    {
        public void Execute(IDocumentSession session)
        {
            session.Patch<WebhookDelivery>(DeliveryId).Append(d => d.Attempts, Decision.Logged);
            var id = DeliveryId;
            var run = Run;
            session.Patch<WebhookDelivery>(d => d.Id == id && d.Run == run)
                .Set(d => d.Status, Decision.Status)
                .Set(d => d.NextAttemptAt, Decision.NextAttemptAt);
        }
    }
}
