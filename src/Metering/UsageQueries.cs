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

    /// <summary>
    /// One account's usage as <see cref="ForAccountAsync"/> has it, and the same facts per UTC day and
    /// AZ (endpoint-hours, bytes processed as payer), computed in one pass so the two always agree.
    /// </summary>
    public static async Task<(AccountUsage Usage, IReadOnlyList<DailyAzUsage> Daily)> ForAccountByDayAsync(IQuerySession session, string accountId, BillingPeriod period, LateWindow window, CancellationToken ct = default)
    {
        var endpoints = await session.Query<EndpointTimeline>().Where(x => x.Accounts.Contains(accountId)).ToListAsync(ct);
        var totals = new UsageCalculator.Totals(period, window, byDay: true);
        await AddAsync(session, [totals], endpoints, period, window, ct);
        return (totals.ToAccounts().GetValueOrDefault(accountId) ?? AccountUsage.Empty(accountId, period), totals.DailyOf(accountId));
    }

    /// <summary>Every account's usage in the period.</summary>
    public static async Task<Dictionary<string, AccountUsage>> ForPeriodAsync(IQuerySession session, BillingPeriod period, LateWindow window, CancellationToken ct = default)
    {
        var endpoints = await session.Query<EndpointTimeline>().ToListAsync(ct);
        return await ComputeAsync(session, endpoints, period, window, ct);
    }

    /// <summary>
    /// Several accounts' usage of the period read once into each of <paramref name="into"/> (totals that
    /// count hours or traffic differently: month-to-date, the whole period, a trailing window), from the
    /// same endpoints and traffic rows as <see cref="ForAccountAsync"/>: spend and budgets (docs/spend.md).
    /// </summary>
    public static async Task ForAccountsAsync(IQuerySession session, IReadOnlyCollection<string> accounts, BillingPeriod period, LateWindow window,
        IReadOnlyList<UsageCalculator.Totals> into, CancellationToken ct = default)
    {
        var endpoints = new Dictionary<string, EndpointTimeline>(StringComparer.Ordinal);
        // The containment ForAccountAsync asks, for 100 accounts a query: OR-ed, each is a lookup in the timelines' GIN index (jsonb_path_ops).
        foreach (var chunk in accounts.Distinct(StringComparer.Ordinal).Chunk(100))
        {
            var where = "where " + string.Join(" or ", chunk.Select(_ => "data @> ?::jsonb"));
            var containing = chunk.Select(a => (object)System.Text.Json.JsonSerializer.Serialize(new { accounts = new[] { a } })).ToArray();
            foreach (var e in await session.QueryAsync<EndpointTimeline>(where, ct, containing))
                endpoints.TryAdd(e.Id, e);
        }
        await AddAsync(session, into, endpoints.Values, period, window, ct);
    }

    /// <summary>Endpoints whose traffic is read at once: bounds memory to one batch of traffic hours, whatever the period holds.</summary>
    public const int EndpointsPerBatch = 1_000;

    static async Task<Dictionary<string, AccountUsage>> ComputeAsync(IQuerySession session, IEnumerable<EndpointTimeline> all, BillingPeriod period, LateWindow window, CancellationToken ct)
    {
        var usage = new UsageCalculator.Totals(period, window);
        await AddAsync(session, [usage], all, period, window, ct);
        return usage.ToAccounts();
    }

    static async Task AddAsync(IQuerySession session, IReadOnlyList<UsageCalculator.Totals> into, IEnumerable<EndpointTimeline> all, BillingPeriod period, LateWindow window, CancellationToken ct)
    {
        var endpoints = all.Select(e => e.AsChargedIn(period, window)).OfType<EndpointTimeline>()
            .Where(e => e.CreatedAt < period.End && (e.DeletedAt is not { } d || d > period.Start)).ToList();
        foreach (var batch in endpoints.Chunk(EndpointsPerBatch))
        {
            var traffic = await TrafficHoursTable.InPeriodAsync(session, batch.Select(e => e.Id).ToList(), period, ct);

            // Raw records of the hours in which a payer changed part-way and that have traffic at all,
            // read for the whole batch of endpoints at once.
            var splitHours = new Dictionary<string, IReadOnlySet<Instant>>(StringComparer.Ordinal);
            foreach (var e in batch)
            {
                if (!traffic.TryGetValue(e.Id, out var buckets)) continue;
                var split = UsageCalculator.SplitHours(e, period);
                var withTraffic = buckets.Where(b => split.Contains(b.Hour)).Select(b => period.HourStart(b.Hour)).ToHashSet();
                if (withTraffic.Count > 0) splitHours[e.Id] = withTraffic;
            }
            var raw = splitHours.Count == 0 ? [] : await RawTraffic.RecordsAsync(session, splitHours, ct);

            foreach (var e in batch)
                foreach (var usage in into) usage.Add(e, traffic.GetValueOrDefault(e.Id), raw.GetValueOrDefault(e.Id));
        }
    }
}
