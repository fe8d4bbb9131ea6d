using Billing.Events;
using Billing.Metering.Accounts;
using Billing.Metering.Ingestion;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Marten;
using NodaTime;
using NodaTime.Serialization.SystemTextJson;
using Weasel.Core;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;

namespace Billing.Metering;

/// <summary>How metering lives in Marten: streams keyed by endpoint and account id, the
/// projections, and the tables that are not documents (permanent record-id dedupe, import counts).</summary>
public static class MeteringStore
{
    public const string Schema = "billing";

    public static void Configure(StoreOptions opts)
    {
        opts.DatabaseSchemaName = Schema;
        opts.Events.StreamIdentity = StreamIdentity.AsString;
        opts.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase,
            configure: o =>
            {
                o.ConfigureForNodaTime(DateTimeZoneProviders.Tzdb);
                o.Converters.Add(new TrafficJson());
            });

        // Lifecycle facts are read when deciding each record, so they are projected inline.
        opts.Projections.Snapshot<EndpointTimeline>(SnapshotLifecycle.Inline);
        opts.Projections.Snapshot<AccountProfile>(SnapshotLifecycle.Inline);
        // Traffic sums are projected by the async daemon: one writer, in event order.
        // A page of 100 events, not the default 500: each event carries a whole batch of traffic
        // (up to 1,000 records), and a daemon catching up on partitions that append side by side
        // held pages of half a million records (ingest peaked at 800 MB with 4 partitions).
        opts.Projections.Add<EndpointTrafficProjection>(ProjectionLifecycle.Async, o => o.BatchSize = 100);

        opts.Schema.For<EndpointTimeline>().GinIndexJsonData();
        opts.Schema.For<DeadLetter>().Index(x => x.DeadLetteredAt);

        opts.Storage.ExtendedSchemaObjects.Add(RecordIds());
        opts.Storage.ExtendedSchemaObjects.Add(Imports());
        opts.Storage.ExtendedSchemaObjects.Add(TimelineCache.Definition());
    }

    /// <summary>Every accepted record id with its content fingerprint, forever (no dedupe window).</summary>
    static Table RecordIds()
    {
        var t = new Table($"{Schema}.record_ids");
        t.AddColumn<string>("id").AsPrimaryKey();
        t.AddColumn("fingerprint", "bytea").NotNull();
        return t;
    }

    /// <summary>Per import, how many records have been decided so far.</summary>
    static Table Imports()
    {
        var t = new Table($"{Schema}.imports");
        t.AddColumn<Guid>("id").AsPrimaryKey();
        t.AddColumn<long>("expected").NotNull();
        t.AddColumn<long>("accepted").NotNull().DefaultValue(0);
        t.AddColumn<long>("duplicates").NotNull().DefaultValue(0);
        t.AddColumn<long>("rejected").NotNull().DefaultValue(0);
        return t;
    }
}
