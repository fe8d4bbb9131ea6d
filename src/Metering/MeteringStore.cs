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
/// projections, and the tables that are not documents (permanent record-id dedupe, import counts,
/// traffic hours).</summary>
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
                o.Converters.Add(new TrafficRecordedJson());
            });

        // Lifecycle facts are read when deciding each record, so they are projected inline.
        opts.Projections.Snapshot<EndpointTimeline>(SnapshotLifecycle.Inline);
        opts.Projections.Snapshot<AccountProfile>(SnapshotLifecycle.Inline);
        // Traffic sums too: each batch adds its hours to a table in its own transaction (increments,
        // so partitions appending side by side never rewrite one another's rows, and nothing reads
        // the events back). A rebuild reads pages of 100 events of up to 1,000 records each.
        opts.Projections.Add(new TrafficHoursProjection(), ProjectionLifecycle.Inline, o => o.BatchSize = 100);

        opts.Schema.For<EndpointTimeline>().GinIndexJsonData();
        opts.Schema.For<DeadLetter>().Index(x => x.DeadLetteredAt);
        opts.Schema.For<DeadLetter>().Index(x => x.RecordId); // un-billed traffic billed again finds its letters

        opts.Storage.ExtendedSchemaObjects.Add(RecordIdsTable.Definition());
        opts.Storage.ExtendedSchemaObjects.AddRange(ImportsTable.Definitions());
        opts.Storage.ExtendedSchemaObjects.Add(TimelineCache.Definition());
    }
}
