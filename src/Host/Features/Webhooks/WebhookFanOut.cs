using System.Security.Cryptography;
using System.Text;
using Billing.Host.Features.Budgets;
using Billing.Invoicing.Issuing;
using Marten;
using JasperFx;
using NodaTime;
using Npgsql;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Marten;
using Wolverine.Runtime.Handlers;

namespace Billing.Host.Features.Webhooks;

/// <summary>The live endpoints and which of the events were raised before, read before an event is fanned out.</summary>
public sealed record FanOutState(IReadOnlyList<WebhookEndpoint> Endpoints, IReadOnlySet<string> Raised, Instant Now);

/// <summary>
/// Turns raised events into stored messages and deliveries, in the transaction that handles the event:
/// one <see cref="WebhookMessage"/> per event, one <see cref="WebhookDelivery"/> per endpoint that
/// receives it, a first <see cref="DeliverWebhook"/> for each and, with a broker, one copy for the
/// exchange, all through the outbox. An event whose message exists already is skipped whole, so an event
/// handled twice is delivered and published once from here (the message's id is derived from the event).
/// </summary>
public static class WebhookFanOut
{
    public static async Task<FanOutState> LoadAsync(IQuerySession session, IReadOnlyList<BillingEvent> events, IClock clock, CancellationToken ct)
    {
        var ids = events.Select(e => e.MessageId).Distinct(StringComparer.Ordinal).ToArray();
        var raised = (await session.LoadManyAsync<WebhookMessage>(ct, ids)).Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        // Endpoints are few (one per customer system) and read whole; deleted ones stay as records.
        var endpoints = (await session.Query<WebhookEndpoint>().ToListAsync(ct)).Where(e => e.DeletedAt is null).ToList();
        return new FanOutState(endpoints, raised, clock.GetCurrentInstant());
    }

    /// <summary>The writes and messages for <paramref name="events"/> (pure).</summary>
    public static (IEnumerable<IMartenOp>, OutgoingMessages) Effects(IReadOnlyList<BillingEvent> events, FanOutState state, bool toBroker)
    {
        var ops = new List<IMartenOp>();
        var outgoing = new OutgoingMessages();
        var seen = new HashSet<string>(state.Raised, StringComparer.Ordinal);
        foreach (var e in events)
        {
            var id = e.MessageId;
            if (!seen.Add(id)) continue;
            var body = e.Body();
            ops.Add(MartenOps.Insert(new WebhookMessage { Id = id, Type = e.Type, AccountId = e.AccountId, Timestamp = e.Timestamp, Body = body, RaisedAt = state.Now }));
            foreach (var endpoint in state.Endpoints.Where(x => x.Receives(e)).OrderBy(x => x.Id, StringComparer.Ordinal))
            {
                var delivery = new WebhookDelivery
                {
                    Id = DeliveryId(id, endpoint.Id), MessageId = id, EndpointId = endpoint.Id, Type = e.Type, AccountId = e.AccountId,
                    CreatedAt = state.Now, RunStartedAt = state.Now, NextAttemptAt = state.Now,
                };
                ops.Add(MartenOps.Insert(delivery));
                outgoing.Add(new DeliverWebhook(delivery.Id, Run: 1, Attempt: 1));
            }
            if (toBroker) outgoing.Add(new PublishedBillingEvent(e.Type, id, body), new DeliveryOptions().WithHeader("webhook-id", id));
        }
        return (ops, outgoing);
    }

    /// <summary>A delivery's id: derived from the message and the endpoint, so the pair is stored once.</summary>
    public static string DeliveryId(string messageId, string endpointId) =>
        "dlv_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{messageId}/{endpointId}")))[..20];

    /// <summary>
    /// Two nodes fanning out the same event at once collide on the message's id: the retry finds it
    /// raised. A database that fails is retried with a cooldown, as the other handlers do.
    /// </summary>
    public static void Configure(HandlerChain chain)
    {
        chain.OnException<DocumentAlreadyExistsException>().RetryTimes(3);
        chain.OnException<NpgsqlException>().RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
    }
}

/// <summary>Events raised by the invoices' issue (<c>invoice.issued</c>).</summary>
public static class RaiseBillingEventsHandler
{
    public static void Configure(HandlerChain chain) => WebhookFanOut.Configure(chain);

    public static Task<FanOutState> LoadAsync(RaiseBillingEvents command, IQuerySession session, IClock clock, CancellationToken ct) =>
        WebhookFanOut.LoadAsync(session, command.Events, clock, ct);

    public static (IEnumerable<IMartenOp>, OutgoingMessages) Handle(RaiseBillingEvents command, FanOutState state, BillingSettings settings) =>
        WebhookFanOut.Effects(command.Events, state, settings.RabbitMqUri is not null);
}

/// <summary><c>budget.threshold_crossed</c>, from the spend side's alert.</summary>
public static class BudgetThresholdCrossedHandler
{
    public static void Configure(HandlerChain chain) => WebhookFanOut.Configure(chain);

    public static Task<FanOutState> LoadAsync(BudgetThresholdCrossed alert, IQuerySession session, IClock clock, CancellationToken ct) =>
        WebhookFanOut.LoadAsync(session, [BillingEvent.Crossed(alert)], clock, ct);

    public static (IEnumerable<IMartenOp>, OutgoingMessages) Handle(BudgetThresholdCrossed alert, FanOutState state, BillingSettings settings) =>
        WebhookFanOut.Effects([BillingEvent.Crossed(alert)], state, settings.RabbitMqUri is not null);
}

/// <summary>The PDF an <c>invoice.pdf_ready</c> announces, and when it was stored (its <see cref="InvoicePdfRendered"/> event's time).</summary>
public sealed record StoredPdf(BillingEvent Event, FanOutState State);

/// <summary>
/// <c>invoice.pdf_ready</c>, from <see cref="InvoiceIssuedNotice"/>: the notice is published in the
/// transaction that stores the PDF, so the PDF can be fetched by the time the webhook arrives.
/// </summary>
public static class InvoiceIssuedNoticeHandler
{
    public static void Configure(HandlerChain chain) => WebhookFanOut.Configure(chain);

    public static async Task<StoredPdf> LoadAsync(InvoiceIssuedNotice notice, IQuerySession session, IClock clock, CancellationToken ct)
    {
        var invoice = await session.Query<IssuedInvoice>().FirstOrDefaultAsync(i => i.Number == notice.Number, ct)
                      ?? throw new InvalidOperationException($"invoice {notice.Number} of the notice is not stored");
        var stream = await session.Events.FetchStreamAsync(invoice.Id, token: ct);
        var rendered = stream.LastOrDefault(e => e.Data is InvoicePdfRendered);
        var e = BillingEvent.PdfReady(notice, invoice.PdfSha256, rendered is null ? clock.GetCurrentInstant() : Instant.FromDateTimeOffset(rendered.Timestamp));
        return new StoredPdf(e, await WebhookFanOut.LoadAsync(session, [e], clock, ct));
    }

    public static (IEnumerable<IMartenOp>, OutgoingMessages) Handle(InvoiceIssuedNotice notice, StoredPdf pdf, BillingSettings settings) =>
        WebhookFanOut.Effects([pdf.Event], pdf.State, settings.RabbitMqUri is not null);
}
