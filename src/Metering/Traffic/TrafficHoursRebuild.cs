using System.Text.Json;
using Billing.Events;
using Npgsql;
using NpgsqlTypes;

namespace Billing.Metering;

/// <summary>
/// Rebuilds <see cref="TrafficHoursTable"/> from every traffic event in bulk: each batch's sums are
/// copied (binary COPY) into a temporary table, then summed into the emptied table in one statement,
/// in key order. The projection's own upserts, one per event, did the same work row by row and took
/// 27 ms for each batch of 1,000 records (30 s for 1M). The swap holds every ingest partition's lock,
/// and takes the events appended meanwhile first, so no batch is counted twice or missed.
/// </summary>
public static class TrafficHoursRebuild
{
    const int EventsPerPage = 100;

    static readonly JsonSerializerOptions Stored = new() { Converters = { new TrafficJson(), new TrafficRecordedJson() } };

    /// <summary>Rebuilds the table; <paramref name="progress"/> hears the sequence number of each traffic event read.</summary>
    public static async Task<long> RunAsync(string connectionString, int partitions, Action<long> progress, CancellationToken ct)
    {
        await using var writer = new NpgsqlConnection(connectionString);
        await writer.OpenAsync(ct);
        await Execute(writer, "create temp table traffic_rebuild (endpoint_id text, hour timestamptz, az_id text, source_az_id text, bytes numeric, batch uuid) on commit preserve rows", ct);

        var after = await CopyEventsAsync(connectionString, writer, 0, progress, ct);

        await using var tx = await writer.BeginTransactionAsync(ct);
        await Ingestion.PartitionLocks.TakeAsync(writer, Enumerable.Range(0, partitions).ToList(), ct);
        after = await CopyEventsAsync(connectionString, writer, after, progress, ct);
        await Execute(writer, $"""
            delete from {TrafficHoursTable.Name};
            insert into {TrafficHoursTable.Name} (endpoint_id, hour, az_id, source_az_id, bytes, batches)
            select endpoint_id, hour, az_id, source_az_id, sum(bytes), array_agg(distinct batch)
            from traffic_rebuild group by endpoint_id, hour, az_id, source_az_id order by endpoint_id, hour, az_id, source_az_id;
            """, ct);
        await tx.CommitAsync(ct);
        await Execute(writer, "drop table traffic_rebuild", ct);
        return after;
    }

    /// <summary>Copies the sums of every traffic event after sequence <paramref name="after"/>; returns the last sequence read.</summary>
    static async Task<long> CopyEventsAsync(string connectionString, NpgsqlConnection writer, long after, Action<long> progress, CancellationToken ct)
    {
        await using var reader = new NpgsqlConnection(connectionString);
        await reader.OpenAsync(ct);
        while (true)
        {
            var page = new List<(long Seq, string Stream, string Json)>(EventsPerPage);
            await using (var cmd = new NpgsqlCommand($"select seq_id, stream_id, data::text from {MeteringStore.Schema}.mt_events where type = 'traffic_recorded' and seq_id > @after order by seq_id limit {EventsPerPage}", reader))
            {
                cmd.Parameters.AddWithValue("after", after);
                await using var rows = await cmd.ExecuteReaderAsync(ct);
                while (await rows.ReadAsync(ct)) page.Add((rows.GetInt64(0), rows.GetString(1), rows.GetString(2)));
            }
            if (page.Count == 0) return after;

            await using (var copy = await writer.BeginBinaryImportAsync("copy traffic_rebuild (endpoint_id, hour, az_id, source_az_id, bytes, batch) from stdin (format binary)", ct))
            {
                foreach (var (_, stream, json) in page)
                {
                    var batch = TrafficStreams.BatchOf(stream);
                    foreach (var h in TrafficHours.Sum(JsonSerializer.Deserialize<TrafficRecorded>(json, Stored)!.Records))
                    {
                        await copy.StartRowAsync(ct);
                        await copy.WriteAsync(h.EndpointId, NpgsqlDbType.Text, ct);
                        await copy.WriteAsync(h.Hour.ToDateTimeUtc(), NpgsqlDbType.TimestampTz, ct);
                        await copy.WriteAsync(h.AzId, NpgsqlDbType.Text, ct);
                        await copy.WriteAsync(h.SourceAzId ?? "", NpgsqlDbType.Text, ct);
                        await copy.WriteAsync(h.Bytes, NpgsqlDbType.Numeric, ct);
                        await copy.WriteAsync(batch, NpgsqlDbType.Uuid, ct);
                    }
                }
                await copy.CompleteAsync(ct);
            }
            after = page[^1].Seq;
            progress(after);
        }
    }

    static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
