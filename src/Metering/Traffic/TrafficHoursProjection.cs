using Billing.Events;
using JasperFx.Events;
using Marten;
using Marten.Events.Projections;

namespace Billing.Metering;

/// <summary>
/// Sums each traffic batch into <see cref="TrafficHoursTable"/> as it is appended (inline: usage
/// counts a record as soon as its batch commits), and again from the whole event store when the
/// projection is rebuilt, after Marten empties the table. Traffic un-billed (<see cref="TrafficUnbilled"/>)
/// is written as its hours taken off, in rows of negative bytes and records; traffic billed again adds
/// them back. Rows are only ever inserted, so the order the events are projected in does not matter.
/// </summary>
public sealed partial class TrafficHoursProjection : EventProjection
{
    public const string ProjectionName = "TrafficHours";

    public TrafficHoursProjection()
    {
        Name = ProjectionName;
        SchemaObjects.Add(TrafficHoursTable.Definition());
        Options.DeleteDataInTableOnTeardown(TrafficHoursTable.Name);
    }

    public void Project(IEvent<TrafficRecorded> e, IDocumentOperations ops) =>
        TrafficHoursTable.Add(ops, TrafficStreams.BatchOf(e.StreamKey!), TrafficHours.Sum(e.Data.Records));

    public void Project(IEvent<TrafficUnbilled> e, IDocumentOperations ops) =>
        TrafficHoursTable.Add(ops, TrafficStreams.BatchOf(e.StreamKey!), TrafficHours.Negated(TrafficHours.Sum(e.Data.Records)));

    public void Project(IEvent<TrafficRebilled> e, IDocumentOperations ops) =>
        TrafficHoursTable.Add(ops, TrafficStreams.BatchOf(e.StreamKey!), TrafficHours.Sum(e.Data.Records));
}

/// <summary>
/// Each traffic batch is a stream of its own, "traffic/{batch id}", holding one <see cref="TrafficRecorded"/>
/// event; so is each ingest batch's un-billing and re-billing, holding a <see cref="TrafficUnbilled"/> or
/// <see cref="TrafficRebilled"/> per lifecycle record that moved traffic.
/// </summary>
public static class TrafficStreams
{
    const string Prefix = "traffic/";

    public static string KeyOf(Guid batch) => Prefix + batch.ToString("D");

    public static Guid BatchOf(string streamKey) =>
        streamKey.StartsWith(Prefix, StringComparison.Ordinal) && Guid.TryParse(streamKey.AsSpan(Prefix.Length), out var batch)
            ? batch : throw new ArgumentException($"'{streamKey}' is not a traffic batch's stream", nameof(streamKey));
}
