using Billing.Events;
using Marten;
using NodaTime;

namespace Billing.Metering;

/// <summary>Reads the metered facts of a period from Marten and hands them to <see cref="UsageCalculator"/>.</summary>
public static class UsageQueries
{
    /// <summary>
    /// One account's usage: endpoint-hours and data processed as payer, cross-AZ as owner, on the
    /// facts that count in the period's charges (<see cref="LateWindow"/>).
    /// </summary>
    public static async Task<AccountUsage> ForAccountAsync(IQuerySession session, string accountId, BillingPeriod period, LateWindow window, CancellationToken ct = default)
    {
        var endpoints = await session.Query<EndpointTimeline>().Where(x => x.Accounts.Contains(accountId)).ToListAsync(ct);
        var usage = await ComputeAsync(session, endpoints, period, window, ct);
        return usage.GetValueOrDefault(accountId) ?? AccountUsage.Empty(accountId, period);
    }

    /// <summary>Every account's usage in the period.</summary>
    public static async Task<Dictionary<string, AccountUsage>> ForPeriodAsync(IQuerySession session, BillingPeriod period, LateWindow window, CancellationToken ct = default)
    {
        var endpoints = await session.Query<EndpointTimeline>().ToListAsync(ct);
        return await ComputeAsync(session, endpoints, period, window, ct);
    }

    /// <summary>Endpoints whose traffic is read at once: bounds memory to one batch of endpoint-day documents, whatever the period holds.</summary>
    public const int EndpointsPerBatch = 1_000;

    static async Task<Dictionary<string, AccountUsage>> ComputeAsync(IQuerySession session, IEnumerable<EndpointTimeline> all, BillingPeriod period, LateWindow window, CancellationToken ct)
    {
        var endpoints = all.Select(e => e.AsChargedIn(period, window)).OfType<EndpointTimeline>()
            .Where(e => e.CreatedAt < period.End && (e.DeletedAt is not { } d || d > period.Start)).ToList();
        var usage = new UsageCalculator.Totals(period, window);
        foreach (var batch in endpoints.Chunk(EndpointsPerBatch))
        {
            var days = await session.LoadManyAsync<EndpointTrafficDay>(ct, batch.SelectMany(e => EndpointTrafficDay.IdsOf(e.Id, period)));
            var batchesByDay = days.ToDictionary(d => d.Id, d => d.Batches, StringComparer.Ordinal);
            var traffic = days.GroupBy(d => d.EndpointId)
                .ToDictionary(g => g.Key, g => (IReadOnlyList<TrafficBucket>)g.SelectMany(d => d.Buckets()).ToList());
            days = null;

            // Raw records of the hours in which a payer changed part-way, read for the whole batch at
            // once, and only for days that have traffic at all.
            var splitDays = new Dictionary<string, IReadOnlyCollection<LocalDate>>();
            var trafficBatches = new HashSet<long>();
            foreach (var e in batch)
            {
                var withTraffic = new List<LocalDate>();
                foreach (var day in UsageCalculator.SplitHours(e, period).Select(h => period.HourStart(h).InUtc().Date).Distinct())
                    if (batchesByDay.TryGetValue(EndpointTrafficDay.IdOf(e.Id, day), out var batches))
                    {
                        withTraffic.Add(day);
                        trafficBatches.UnionWith(batches);
                    }
                if (withTraffic.Count > 0) splitDays[e.Id] = withTraffic;
            }
            batchesByDay = null;
            var raw = splitDays.Count == 0 ? [] : await RawTraffic.RecordsAsync(session, splitDays, trafficBatches, ct);

            foreach (var e in batch) usage.Add(e, traffic.GetValueOrDefault(e.Id), raw.GetValueOrDefault(e.Id));
        }
        return usage.ToAccounts();
    }
}
