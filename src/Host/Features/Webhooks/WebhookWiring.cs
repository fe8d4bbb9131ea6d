using System.Text;
using System.Text.Json;
using Billing.Host.Features.Budgets;
using Marten;
using Wolverine;
using Wolverine.Postgresql;
using Wolverine.RabbitMQ;
using Wolverine.Runtime.Serialization;

namespace Billing.Host.Features.Webhooks;

/// <summary>
/// Where webhooks live in the host: their documents, the sender, and two PostgreSQL queues:
/// <c>webhook_events</c> (the events to fan out: issued invoices, stored PDFs' notices, budget alerts)
/// and <c>webhook_deliveries</c> (one message per attempt; retries wait there as scheduled messages).
/// With BILLING_RABBITMQ, each event is also published to the topic exchange <c>billing.events</c>,
/// routed by its type.
/// </summary>
public static class WebhookWiring
{
    public const string EventsQueue = "webhook_events";
    public const string DeliveriesQueue = "webhook_deliveries";
    public const string Exchange = "billing.events";

    /// <summary>Attempts in flight on one node: each waits on a receiver (up to the timeout), not on a core.</summary>
    const int ParallelAttempts = 8;

    public static void AddServices(IServiceCollection services, BillingSettings settings)
    {
        var webhooks = settings.Webhooks ?? WebhookSettings.Default;
        services.AddSingleton(webhooks);
        services.AddSingleton(new WebhookSender(webhooks));
    }

    public static void ConfigureStore(StoreOptions opts)
    {
        opts.Schema.For<WebhookEndpoint>();
        opts.Schema.For<WebhookMessage>();
        opts.Schema.For<WebhookDelivery>().Index(d => d.EndpointId).Index(d => d.CreatedAt);
    }

    public static void ConfigureMessaging(WolverineOptions opts, BillingSettings settings)
    {
        opts.PublishMessage<RaiseBillingEvents>().ToPostgresqlQueue(EventsQueue);
        opts.PublishMessage<BudgetThresholdCrossed>().ToPostgresqlQueue(EventsQueue);
        // Besides its own queue for downstream consumers (invoice_issued): the notice says the PDF is stored.
        opts.PublishMessage<InvoiceIssuedNotice>().ToPostgresqlQueue(EventsQueue);
        opts.PublishMessage<DeliverWebhook>().ToPostgresqlQueue(DeliveriesQueue);
        if ((settings.Webhooks ?? WebhookSettings.Default).Deliver)
        {
            opts.ListenToPostgresqlQueue(EventsQueue).PollingInterval(settings.QueuePollingInterval).MaximumParallelMessages(2);
            opts.ListenToPostgresqlQueue(DeliveriesQueue).PollingInterval(settings.QueuePollingInterval).MaximumParallelMessages(ParallelAttempts);
        }
        if (settings.RabbitMqUri is not null)
            opts.PublishMessagesToRabbitMqExchange<PublishedBillingEvent>(Exchange, e => e.Type)
                .UseDurableOutbox()
                .DefaultSerializer(PublishedBillingEventSerializer.Instance);
    }
}

/// <summary>The exchange's bodies are the webhook bodies as they are, JSON for consumers in any language (no Wolverine envelope in the body).</summary>
public sealed class PublishedBillingEventSerializer : IMessageSerializer
{
    public static readonly PublishedBillingEventSerializer Instance = new();

    public string ContentType => "application/json";

    public byte[] Write(Envelope envelope) => WriteMessage(envelope.Message!);

    public byte[] WriteMessage(object message) =>
        message is PublishedBillingEvent e ? Encoding.UTF8.GetBytes(e.Body) : JsonSerializer.SerializeToUtf8Bytes(message);

    public object ReadFromData(Type messageType, Envelope envelope) => ReadFromData(envelope.Data ?? []);

    public object ReadFromData(byte[] data)
    {
        using var doc = JsonDocument.Parse(data);
        return new PublishedBillingEvent(doc.RootElement.GetProperty("type").GetString() ?? "", "", Encoding.UTF8.GetString(data));
    }
}
