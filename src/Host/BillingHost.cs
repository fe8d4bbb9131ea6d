using Billing.Host.Features;
using Billing.Host.Operations;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Ingestion;
using JasperFx.CodeGeneration;
using JasperFx.Events.Daemon;
using Marten;
using NodaTime;
using NodaTime.Serialization.SystemTextJson;
using Wolverine;
using Wolverine.Marten;
using Wolverine.Postgresql;
using Wolverine.RabbitMQ;
using Wolverine.Runtime.Agents;

namespace Billing.Host;

/// <summary>
/// Wires the service: Marten (event store, projections, async daemon) and Wolverine (durable
/// PostgreSQL queue, handlers, outbox) on one PostgreSQL database. Used by the HTTP server and
/// by every CLI verb, so they all behave alike.
/// </summary>
public static class BillingHost
{
    public const string UsageQueue = "usage";

    /// <summary>Where Wolverine keeps the PostgreSQL queues' tables (the message store is in Marten's schema).</summary>
    public const string QueueSchema = "billing_queues";

    /// <summary>The ingest partitions' sharded queues: usage_partition1 … usage_partitionP (PostgreSQL tables or RabbitMQ queues).</summary>
    public const string IngestQueue = "usage_partition";
    public const string InvoicingQueue = "invoicing";

    /// <summary>The PDFs of invoices just issued are rendered from here, after the numbers' lock is let go.</summary>
    public const string InvoicePdfsQueue = "invoice_pdfs";

    /// <summary>Downstream consumers listen here for <see cref="InvoiceIssuedNotice"/>.</summary>
    public const string InvoiceIssuedQueue = "invoice_issued";

    /// <summary>The seller printed on every invoice.</summary>
    public static readonly Seller Seller = new("PrivateLink Metering Services K.K.",
        new Billing.Events.BillingAddress("1-2-3 Otemachi, Chiyoda-ku", "Otemachi Tower 20F", "Tokyo", "100-0004", "JP"),
        TaxRegistration: "T1234567890123", Contact: "billing@example.com");

    public static void Configure(IHostApplicationBuilder builder, BillingSettings settings, IClock clock)
    {
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(clock);
        var priceBook = settings.PriceBookPath is { } path ? PriceBook.LoadFile(path) : PriceBook.Default;
        builder.Services.AddSingleton(priceBook);
        var lateWindow = settings.LateWindow;
        builder.Services.AddSingleton(lateWindow);
        builder.Services.AddSingleton(new IngestionOptions(priceBook.Regions, settings.RetryWindow, lateWindow));
        var partitions = new UsagePartitions(settings.IngestPartitions);
        builder.Services.AddSingleton(partitions);
        builder.Services.AddSingleton<TimelineCaches>();
        builder.Services.AddSingleton(Seller);

        builder.Services.AddMarten(opts => ConfigureStore(opts, settings))
            .IntegrateWithWolverine(w => w.TransportSchemaName = QueueSchema)
            .AddAsyncDaemon(settings.RunDaemon ? DaemonMode.HotCold : DaemonMode.Disabled)
            .ApplyAllDatabaseChangesOnStartup();
        builder.Services.AddHostedService<InvoicePdfStorage>(); // after Marten's migration: the table exists by then
        builder.Services.AddHostedService<Operations.StrandedMessages>();
        builder.Services.AddBillingMetrics();
        Features.Webhooks.WebhookWiring.AddServices(builder.Services, settings);
        Features.Budgets.BudgetWiring.AddServices(builder.Services);

        builder.UseWolverine(opts =>
        {
            opts.UseSystemTextJsonForSerialization(o => o.ConfigureForNodaTime(DateTimeZoneProviders.Tzdb));
            opts.Policies.AutoApplyTransactions();
            opts.EnableRelayOfUserName = true;
            ConfigureNodes(opts, settings);
            PartitionIngest(opts, settings, partitions);
            // Batches queued by earlier versions, before ingest was partitioned, are still decided.
            opts.ListenToPostgresqlQueue(UsageQueue).PollingInterval(settings.QueuePollingInterval).Sequential();
            if (settings.RabbitMqUri is { } amqp) UseRabbitMqForProducers(opts, amqp);
            opts.PublishMessage<IssueInvoice>().ToPostgresqlQueue(InvoicingQueue);
            opts.PublishMessage<IssueInvoices>().ToPostgresqlQueue(InvoicingQueue);
            opts.ListenToPostgresqlQueue(InvoicingQueue).PollingInterval(settings.QueuePollingInterval).MaximumParallelMessages(2);
            opts.PublishMessage<RenderInvoicePdfs>().ToPostgresqlQueue(InvoicePdfsQueue);
            opts.ListenToPostgresqlQueue(InvoicePdfsQueue).PollingInterval(settings.QueuePollingInterval).MaximumParallelMessages(2);
            opts.PublishMessage<InvoiceIssuedNotice>().ToPostgresqlQueue(InvoiceIssuedQueue);
            Features.Webhooks.WebhookWiring.ConfigureMessaging(opts, settings);
            Features.Budgets.BudgetWiring.Route(opts, settings);
            // Only the long-running service closes periods by itself; a CLI verb never does as a side effect.
            // A close waiting for its retry is a row of the inbox, so it outlives its node and the tick sees it (CloseRetries).
            opts.LocalQueueFor<ClosePeriod>().UseDurableInbox();
            // One timer agent in the cluster ticks (docs/operations.md); a duplicate tick only closes again, which is idempotent.
            if (settings.RunSchedules) opts.Schedules.ScheduleRecurring<CloseDuePeriods>(CloseSchedule.Cron(settings.CloseTickSeconds));
            opts.CodeGeneration.TypeLoadMode = TypeLoadMode.Auto;
            opts.UseRuntimeCompilation();
        });
    }

    /// <summary>The event store and documents, alike for the service and for the verbs that need only the store (`keys`).</summary>
    public static void ConfigureStore(StoreOptions opts, BillingSettings settings)
    {
        opts.Connection(settings.ConnectionString);
        MeteringStore.Configure(opts);
        InvoiceStore.Configure(opts);
        opts.Schema.For<Access.ApiKey>();
        Features.Webhooks.WebhookWiring.ConfigureStore(opts);
        Billing.Invoicing.Budgets.BudgetStore.Configure(opts);
        opts.Storage.ExtendedSchemaObjects.Add(Features.Budgets.BudgetGates.Definition());
        // Each event names who caused it: Wolverine relays the key or CLI user on every envelope into the session (Access.Actor).
        opts.Events.MetadataConfig.UserNameEnabled = true;
    }

    /// <summary>
    /// Ingest partitions over sharded queues (Wolverine's global partitioning): each partition's
    /// queue is listened to by exactly one live node, which decides its batches one at a time; the
    /// leader spreads the partitions over the nodes and moves a dead node's to a live one. The
    /// queues are PostgreSQL tables on either bus: a batch then waits, is retried and is handed over
    /// in the database its decision commits to. On RabbitMQ partition queues, a restart of PostgreSQL
    /// lost batches on their way from the broker's queue into Wolverine's inbox (AsDeployedTests;
    /// docs/scaling.md); a broker carries the producers' queue <c>usage</c> alone.
    /// </summary>
    static void PartitionIngest(WolverineOptions opts, BillingSettings settings, UsagePartitions partitions)
    {
        opts.MessagePartitioning.ByMessage<IngestBatch>(b => partitions.GroupId(b.Partition))
            .GlobalPartitioned(topology =>
            {
                topology.UseShardedPostgresqlQueues(IngestQueue, partitions.Count, q => q.ConfigureListening(l => l.PollingInterval(settings.QueuePollingInterval)));
                topology.Message<IngestBatch>();
            });
    }

    /// <summary>
    /// How fast the nodes notice one another: a node silent for BILLING_NODE_STALE_SECONDS loses its
    /// partitions to a live one (Wolverine's default is a minute, with health checks every 10 s), and
    /// a node live again for as long gets its even share back (<see cref="PartitionRebalancing"/>).
    /// </summary>
    static void ConfigureNodes(WolverineOptions opts, BillingSettings settings)
    {
        var stale = TimeSpan.FromSeconds(settings.NodeStaleSeconds);
        opts.Durability.StaleNodeTimeout = stale;
        opts.Durability.HealthCheckPollingTime = stale / 4 < TimeSpan.FromSeconds(1) ? stale / 4 : TimeSpan.FromSeconds(1);
        opts.Durability.CheckAssignmentPeriod = stale / 2;
        // A lone node leads and owns every partition at once: Wolverine's first check is after 3 s.
        opts.Durability.FirstHealthCheckExecution = TimeSpan.FromMilliseconds(100);
        // Wolverine's even distribution never moves a running partition to a node below its share; this family does.
        // A move unconfirmed after two assignment periods may be decided again, as Wolverine retries its own.
        var moveTimeout = opts.Durability.CheckAssignmentPeriod * 2;
        opts.Services.AddSingleton<IAgentFamily>(sp => new PartitionRebalancing(stale, moveTimeout, sp.GetRequiredService<ILogger<PartitionRebalancing>>()));
    }

    /// <summary>
    /// The producers' broker (BILLING_RABBITMQ): the durable queue <c>usage</c> takes raw JSON bodies
    /// from any language (<see cref="UsageMessage"/>). Inline processing: the broker's message is
    /// acknowledged only after its records' transaction commits (the handler's retries:
    /// <see cref="UsageMessageHandler.Configure"/>).
    /// </summary>
    static void UseRabbitMqForProducers(WolverineOptions opts, string amqpUri)
    {
        opts.UseRabbitMq(new Uri(amqpUri)).AutoProvision().DisableSystemRequestReplyQueueDeclaration();
        opts.ListenToRabbitQueue(UsageQueue)
            .ProcessInline()
            .ListenerCount(1)
            .PreFetchCount(20)
            .DefaultIncomingMessage<UsageMessage>()
            .DefaultSerializer(RawUsageSerializer.Instance);
        opts.PublishMessage<UsageMessage>().ToRabbitQueue(UsageQueue);
    }
}
