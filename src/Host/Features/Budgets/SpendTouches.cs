using Billing.Events;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Metering.Ingestion;

namespace Billing.Host.Features.Budgets;

/// <summary>
/// One account's spend in one period was touched by a committed batch: the bytes its accepted traffic
/// adds (processed as payer, cross-AZ as owner), or a lifecycle record that may change any of its
/// charges from <see cref="Period"/> on (<see cref="Lifecycle"/>), which only an exact reading can tell.
/// </summary>
public sealed record SpendTouch(string AccountId, BillingPeriod Period, decimal ProcessedBytes, decimal CrossAzBytes, bool Lifecycle);

/// <summary>
/// Which budgeted accounts' spend a batch's decision touched (docs/spend.md), pure: per (account, period)
/// the bytes its accepted traffic adds, and a lifecycle mark for every account of an endpoint or
/// account stream the batch appended to. Accounts without a budget are left out, so with no budget
/// ingest sends nothing at all. Gateway traffic is free and touches nothing.
/// </summary>
public static class SpendTouches
{
    public static IReadOnlyList<SpendTouch> Of(BatchDecision decision, IReadOnlyDictionary<string, EndpointTimeline> before, Func<string, bool> budgeted)
    {
        var touched = new Dictionary<(string Account, BillingPeriod Period), (decimal Processed, decimal CrossAz, bool Lifecycle)>();
        void Add(string account, BillingPeriod period, decimal processed, decimal crossAz, bool lifecycle)
        {
            if (!budgeted(account)) return;
            var (p, c, l) = touched.GetValueOrDefault((account, period));
            touched[(account, period)] = (p + processed, c + crossAz, l || lifecycle);
        }
        EndpointTimeline? TimelineOf(string endpoint) => decision.Timelines.GetValueOrDefault(endpoint) ?? before.GetValueOrDefault(endpoint);

        foreach (var t in decision.Traffic)
        {
            if (TimelineOf(t.EndpointId) is not { } e || e.EndpointType == EndpointType.Gateway) continue;
            var period = BillingPeriod.Of(t.At);
            Add(e.PayerAt(t.At), period, t.Bytes, 0, false);
            if (t.SourceAzId is { } source && source != t.AzId) Add(e.OwnerAccountId, period, 0, t.Bytes, false);
        }
        foreach (var stream in decision.Streams)
        {
            var records = stream.Events.OfType<IUsageRecord>().ToList();
            if (records.Count == 0) continue;
            var period = BillingPeriod.Of(records.Min(r => r.At));
            // An account's own records change its tax; an endpoint's, the charges of its owner and of every payer it had or has.
            IEnumerable<string> accounts = stream.Aggregate == typeof(AccountProfile) ? [stream.Key]
                : (decision.Timelines.GetValueOrDefault(stream.Key)?.Accounts ?? []).Union(before.GetValueOrDefault(stream.Key)?.Accounts ?? []);
            foreach (var account in accounts) Add(account, period, 0, 0, true);
        }
        // Traffic that a later removal or deletion un-billed (or that an addition billed again) moves with the lifecycle record above.
        return touched.Select(kv => new SpendTouch(kv.Key.Account, kv.Key.Period, kv.Value.Processed, kv.Value.CrossAz, kv.Value.Lifecycle))
            .OrderBy(t => t.AccountId, StringComparer.Ordinal).ThenBy(t => t.Period).ToList();
    }
}
