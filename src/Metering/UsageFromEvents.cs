using Billing.Events;
using JasperFx.Events;
using Marten;
using Npgsql;
using NpgsqlTypes;

namespace Billing.Metering;

/// <summary>
/// An account's usage of a period recomputed from the event store alone, from the events up to a
/// sequence (docs/provenance.md): what `billing invoice verify` compares an invoice's provenance with.
/// The projections only say where to look: the account's endpoints (<see cref="EndpointTimeline.Accounts"/>
/// only grows) and the traffic batches with rows of their hours in the period. Every fact comes from the
/// events themselves: each endpoint's timeline is rebuilt by Marten's own live aggregation of its events up
/// to the sequence, and the bytes are the records of the traffic events up to it, net of the traffic
/// un-billed and billed again up to it, summed as ingest sums them. A projection row altered or lost can only make the recomputation miss what the invoice priced
/// (and so differ), never supply bytes that no event holds.
/// </summary>
public static class UsageFromEvents
{
    /// <param name="upTo">the highest event sequence to read; null: every event known now</param>
    public static async Task<AccountUsage> ForAccountAsync(IQuerySession session, string accountId, BillingPeriod period, LateWindow window, long? upTo, CancellationToken ct = default)
    {
        var last = upTo ?? long.MaxValue;
        var ids = (await session.Query<EndpointTimeline>().Where(x => x.Accounts.Contains(accountId)).Select(x => x.Id).ToListAsync(ct)).ToArray();
        if (ids.Length == 0) return AccountUsage.Empty(accountId, period);

        var lifecycle = await session.Events.QueryAllRawEvents()
            .Where(e => e.StreamKey!.IsOneOf(ids) && e.Sequence <= last)
            .OrderBy(e => e.Sequence).ToListAsync(ct);
        var aggregator = ((Marten.Internal.IMartenSession)session).Options.Projections.AggregatorFor<EndpointTimeline>();
        var endpoints = new List<EndpointTimeline>();
        foreach (var stream in lifecycle.GroupBy(e => e.StreamKey!, StringComparer.Ordinal))
            if (await aggregator.BuildAsync(stream.ToList(), session, null, ct) is { } timeline)
            {
                timeline.Id = stream.Key;
                endpoints.Add(timeline);
            }

        var batches = await BatchesAsync(session, ids, period, ct);
        var records = new Dictionary<string, List<TrafficProcessed>>(StringComparer.Ordinal);
        if (batches.Length > 0)
        {
            var traffic = await session.Events.QueryAllRawEvents()
                .Where(e => e.StreamKey!.IsOneOf(batches) && e.Sequence <= last).ToListAsync(ct);
            var wanted = ids.ToHashSet(StringComparer.Ordinal);
            // Each record as often as the traffic events bill it: un-billed traffic left out (TrafficLedger).
            foreach (var r in TrafficLedger.Billed(traffic.Select(e => e.Data)))
                if (wanted.Contains(r.EndpointId) && period.Contains(r.At))
                {
                    if (!records.TryGetValue(r.EndpointId, out var list)) records[r.EndpointId] = list = [];
                    list.Add(r);
                }
        }

        var buckets = records.ToDictionary(kv => kv.Key,
            kv => (IReadOnlyList<TrafficBucket>)TrafficHours.Sum(kv.Value).Select(h => TrafficHours.InPeriod(h, period)).ToList(), StringComparer.Ordinal);
        var raw = records.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<TrafficProcessed>)kv.Value, StringComparer.Ordinal);
        var usage = UsageCalculator.Compute(new MeteringInput(period, endpoints, buckets, raw, window));
        return usage.GetValueOrDefault(accountId) ?? AccountUsage.Empty(accountId, period);
    }

    /// <summary>The streams of the traffic batches that have rows of these endpoints' hours in the period.</summary>
    static async Task<string[]> BatchesAsync(IQuerySession session, string[] endpointIds, BillingPeriod period, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"""
            select distinct batch from {TrafficHoursTable.Name}
            where endpoint_id = any(@ids) and hour >= @start and hour < @end
            """, (NpgsqlConnection)session.Connection!);
        cmd.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = endpointIds });
        cmd.Parameters.AddWithValue("start", period.Start.ToDateTimeUtc());
        cmd.Parameters.AddWithValue("end", period.End.ToDateTimeUtc());
        var batches = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) batches.Add(TrafficStreams.KeyOf(reader.GetGuid(0)));
        return batches.ToArray();
    }
}
