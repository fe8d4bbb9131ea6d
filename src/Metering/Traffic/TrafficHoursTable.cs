using Marten;
using Npgsql;
using NpgsqlTypes;
using NodaTime;
using Weasel.Postgresql.Tables;

namespace Billing.Metering;

/// <summary>
/// The table of hourly traffic sums, <c>billing.traffic_hours</c>: one row per (endpoint, hour, AZ,
/// source AZ) with its bytes, and the traffic batches (<see cref="Billing.Events.TrafficRecorded"/>
/// streams) that hold its records, so that an hour whose payer changed part-way can read just those
/// raw records again. Written by increments (<see cref="TrafficHoursProjection"/>), read by usage.
/// </summary>
public static class TrafficHoursTable
{
    public const string Name = $"{MeteringStore.Schema}.traffic_hours";

    public static Table Definition()
    {
        var t = new Table(Name);
        t.AddColumn<string>("endpoint_id").AsPrimaryKey();
        t.AddColumn("hour", "timestamptz").AsPrimaryKey();
        t.AddColumn<string>("az_id").AsPrimaryKey();
        // '' for traffic with no source AZ: a primary key column cannot be null.
        t.AddColumn<string>("source_az_id").AsPrimaryKey();
        t.AddColumn("bytes", "numeric").NotNull();
        t.AddColumn("batches", "uuid[]").NotNull();
        return t;
    }

    /// <summary>
    /// Queues the increments of one batch's hours. The batch's own sums are one row per key (see
    /// <see cref="TrafficHours.Sum"/>), as a single upsert may not touch a row twice.
    /// </summary>
    public static void Add(IDocumentOperations ops, Guid batch, IReadOnlyList<TrafficHour> hours)
    {
        if (hours.Count == 0) return;
        var endpoints = new string[hours.Count];
        var starts = new DateTimeOffset[hours.Count]; // timestamptz (Marten sends a DateTime as timestamp without time zone)
        var azs = new string[hours.Count];
        var sources = new string[hours.Count];
        var bytes = new decimal[hours.Count];
        for (var i = 0; i < hours.Count; i++)
        {
            var h = hours[i];
            (endpoints[i], starts[i], azs[i], sources[i], bytes[i]) = (h.EndpointId, h.Hour.ToDateTimeOffset(), h.AzId, h.SourceAzId ?? "", h.Bytes);
        }
        ops.QueueSqlCommand($"""
            insert into {Name} as t (endpoint_id, hour, az_id, source_az_id, bytes, batches)
            select e, h, a, s, b, array[?::uuid] from unnest(?::text[], ?::timestamptz[], ?::text[], ?::text[], ?::numeric[]) as u(e, h, a, s, b)
            on conflict (endpoint_id, hour, az_id, source_az_id) do update
            set bytes = t.bytes + excluded.bytes,
                batches = case when excluded.batches[1] = any(t.batches) then t.batches else t.batches || excluded.batches end
            """, batch, endpoints, starts, azs, sources, bytes);
    }

    /// <summary>The hours of <paramref name="endpointIds"/> in <paramref name="period"/>, as buckets per endpoint.</summary>
    public static async Task<Dictionary<string, List<TrafficBucket>>> InPeriodAsync(IQuerySession session, IReadOnlyCollection<string> endpointIds, BillingPeriod period, CancellationToken ct)
    {
        var found = new Dictionary<string, List<TrafficBucket>>(StringComparer.Ordinal);
        if (endpointIds.Count == 0) return found;
        await using var cmd = new NpgsqlCommand($"select endpoint_id, hour, az_id, source_az_id, bytes from {Name} where endpoint_id = any(@ids) and hour >= @start and hour < @end",
            (NpgsqlConnection)session.Connection!);
        cmd.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = endpointIds.ToArray() });
        cmd.Parameters.AddWithValue("start", period.Start.ToDateTimeUtc());
        cmd.Parameters.AddWithValue("end", period.End.ToDateTimeUtc());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var endpoint = reader.GetString(0);
            if (!found.TryGetValue(endpoint, out var buckets)) found[endpoint] = buckets = [];
            var source = reader.GetString(3);
            buckets.Add(new TrafficBucket(period.HourIndex(Instant.FromDateTimeUtc(reader.GetDateTime(1))), SharedIds.Of(reader.GetString(2)),
                source.Length == 0 ? null : SharedIds.Of(source), reader.GetDecimal(4)));
        }
        return found;
    }

    /// <summary>The traffic batches that hold the records of the given endpoints' hours.</summary>
    public static async Task<HashSet<Guid>> BatchesOfAsync(IQuerySession session, IReadOnlyList<(string EndpointId, Instant Hour)> hours, CancellationToken ct)
    {
        var batches = new HashSet<Guid>();
        if (hours.Count == 0) return batches;
        await using var cmd = new NpgsqlCommand($"""
            select distinct unnest(t.batches) from {Name} t
            join unnest(@endpoints, @hours) as u(e, h) on t.endpoint_id = u.e and t.hour = u.h
            """, (NpgsqlConnection)session.Connection!);
        cmd.Parameters.Add(new NpgsqlParameter("endpoints", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = hours.Select(h => h.EndpointId).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter("hours", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = hours.Select(h => h.Hour.ToDateTimeUtc()).ToArray() });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) batches.Add(reader.GetGuid(0));
        return batches;
    }
}
