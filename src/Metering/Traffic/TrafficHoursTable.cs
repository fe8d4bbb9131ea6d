using Marten;
using Npgsql;
using NpgsqlTypes;
using NodaTime;
using Weasel.Postgresql.Tables;

namespace Billing.Metering;

/// <summary>
/// The table of hourly traffic sums, <c>billing.traffic_hours</c>: per traffic batch, one row per
/// (endpoint, hour, AZ, source AZ) with the batch's bytes there. Usage adds a key's rows up when it
/// reads them; the batch on each row lets an hour whose payer changed part-way read just the batches
/// that hold its records. Rows are only ever inserted: an increment upsert per key (one row per key,
/// the batches listed on it) cost more than twice a plain insert under four partitions, and on the
/// bench's workload nearly every key is new anyway (figures: docs/performance.md).
/// Written by <see cref="TrafficHoursProjection"/>, read by usage.
/// </summary>
public static class TrafficHoursTable
{
    public const string Name = $"{MeteringStore.Schema}.traffic_hours";

    public static Table Definition()
    {
        var t = new Table(Name);
        t.AddColumn<string>("endpoint_id").NotNull();
        t.AddColumn("hour", "timestamptz").NotNull();
        t.AddColumn<string>("az_id").NotNull();
        t.AddColumn<string>("source_az_id"); // null: no source AZ
        t.AddColumn("bytes", "numeric").NotNull();
        t.AddColumn<Guid>("batch").NotNull();
        t.AddColumn("records", "integer"); // how many records the bytes are, negative when un-billed; null on rows older than the count
        t.Indexes.Add(new IndexDefinition("idx_traffic_hours_endpoint_hour") { Columns = ["endpoint_id", "hour"] });
        return t;
    }

    /// <summary>Queues the insertion of one batch's hours (<see cref="TrafficHours.Sum"/>: one row per key).</summary>
    public static void Add(IDocumentOperations ops, Guid batch, IReadOnlyList<TrafficHour> hours)
    {
        if (hours.Count == 0) return;
        var endpoints = new string[hours.Count];
        var starts = new DateTimeOffset[hours.Count]; // timestamptz (Marten sends a DateTime as timestamp without time zone)
        var azs = new string[hours.Count];
        var sources = new string?[hours.Count];
        var bytes = new decimal[hours.Count];
        var records = new int[hours.Count];
        for (var i = 0; i < hours.Count; i++)
        {
            var h = hours[i];
            (endpoints[i], starts[i], azs[i], sources[i], bytes[i], records[i]) = (h.EndpointId, h.Hour.ToDateTimeOffset(), h.AzId, h.SourceAzId, h.Bytes, h.Records);
        }
        ops.QueueSqlCommand($"""
            insert into {Name} (endpoint_id, hour, az_id, source_az_id, bytes, batch, records)
            select e, h, a, s, b, ?::uuid, r from unnest(?::text[], ?::timestamptz[], ?::text[], ?::text[], ?::numeric[], ?::integer[]) as u(e, h, a, s, b, r)
            """, batch, endpoints, starts, azs, sources, bytes, records);
    }

    /// <summary>
    /// The hours of <paramref name="endpointIds"/> in <paramref name="period"/>, as buckets per endpoint:
    /// one per row, a key's rows added up by usage, which sums buckets anyway. Rows are nearly one per
    /// key, so a GROUP BY here only cost a hash aggregate that spilled to disk (docs/performance.md).
    /// An endpoint with un-billed traffic (a row of negative records) has its buckets netted
    /// (<see cref="TrafficHours.Net"/>), so its usage has the rows it would have had without that traffic.
    /// </summary>
    public static async Task<Dictionary<string, List<TrafficBucket>>> InPeriodAsync(IQuerySession session, IReadOnlyCollection<string> endpointIds, BillingPeriod period, CancellationToken ct)
    {
        var found = new Dictionary<string, List<TrafficBucket>>(StringComparer.Ordinal);
        if (endpointIds.Count == 0) return found;
        await using var cmd = new NpgsqlCommand($"""
            select endpoint_id, hour, az_id, source_az_id, bytes, records from {Name}
            where endpoint_id = any(@ids) and hour >= @start and hour < @end
            """, (NpgsqlConnection)session.Connection!);
        cmd.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = endpointIds.ToArray() });
        cmd.Parameters.AddWithValue("start", period.Start.ToDateTimeUtc());
        cmd.Parameters.AddWithValue("end", period.End.ToDateTimeUtc());
        HashSet<string>? unbilled = null;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var endpoint = reader.GetString(0);
            if (!found.TryGetValue(endpoint, out var buckets)) found[endpoint] = buckets = [];
            var records = reader.IsDBNull(5) ? 1 : reader.GetInt32(5);
            var hour = new TrafficHour(endpoint, Instant.FromDateTimeUtc(reader.GetDateTime(1)), SharedIds.Of(reader.GetString(2)),
                reader.IsDBNull(3) ? null : SharedIds.Of(reader.GetString(3)), reader.GetDecimal(4), records);
            buckets.Add(TrafficHours.InPeriod(hour, period));
            if (records < 0) (unbilled ??= new HashSet<string>(StringComparer.Ordinal)).Add(endpoint);
        }
        if (unbilled is not null)
            foreach (var endpoint in unbilled)
            {
                var net = TrafficHours.Net(found[endpoint]);
                if (net.Count > 0) found[endpoint] = net;
                else found.Remove(endpoint);
            }
        return found;
    }

    /// <summary>The traffic batches that hold the records of the given endpoints' hours.</summary>
    public static async Task<HashSet<Guid>> BatchesOfAsync(IQuerySession session, IReadOnlyList<(string EndpointId, Instant Hour)> hours, CancellationToken ct)
    {
        var batches = new HashSet<Guid>();
        if (hours.Count == 0) return batches;
        await using var cmd = new NpgsqlCommand($"""
            select distinct t.batch from {Name} t
            join unnest(@endpoints, @hours) as u(e, h) on t.endpoint_id = u.e and t.hour = u.h
            """, (NpgsqlConnection)session.Connection!);
        cmd.Parameters.Add(new NpgsqlParameter("endpoints", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = hours.Select(h => h.EndpointId).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter("hours", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = hours.Select(h => h.Hour.ToDateTimeUtc()).ToArray() });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) batches.Add(reader.GetGuid(0));
        return batches;
    }
}
