using Billing.Events;
using Billing.Metering;
using Billing.Metering.Accounts;
using Billing.Metering.Ingestion;

namespace Billing.Host.Features.Budgets;

/// <summary>
/// One account's spend in one period was touched by a committed batch: the bytes its accepted traffic
/// adds (processed as payer, cross-AZ as owner); or a lifecycle record (<see cref="Lifecycle"/>), which
/// may change every period from <see cref="Period"/> on. Of those, a new endpoint or an AZ added may add
/// at most a month's hours for each AZ to each such period (<see cref="EndpointAzHours"/>); an account's
/// opening or new address may change its tax, by at most the dearest rate (<see cref="Tax"/>); a removal
/// or deletion only lowers charges and adds nothing; the rest only an exact reading can tell
/// (<see cref="Exact"/>: a payer change, and an AZ added that billed un-billed traffic again).
/// </summary>
public sealed record SpendTouch(string AccountId, BillingPeriod Period, decimal ProcessedBytes, decimal CrossAzBytes, bool Lifecycle,
    int EndpointAzHours = 0, bool Exact = false, bool Tax = false);

/// <summary>
/// Which budgeted accounts' spend a batch's decision touched (docs/spend.md), pure: per (account, period)
/// the bytes its accepted traffic adds, and a lifecycle mark for every account of an endpoint or
/// account stream the batch appended to. Accounts without a budget are left out, so with no budget
/// ingest sends nothing at all. Gateway traffic is free and touches nothing.
/// </summary>
public static class SpendTouches
{
    /// <summary>The most clock hours of one period (31 days).</summary>
    public const int MaxHoursInPeriod = 31 * 24;

    public static IReadOnlyList<SpendTouch> Of(BatchDecision decision, IReadOnlyDictionary<string, EndpointTimeline> before, Func<string, bool> budgeted)
    {
        var touched = new Dictionary<(string Account, BillingPeriod Period), (decimal Processed, decimal CrossAz, bool Lifecycle, int Hours, bool Exact, bool Tax)>();
        void Add(string account, BillingPeriod period, decimal processed, decimal crossAz, bool lifecycle = false, int hours = 0, bool exact = false, bool tax = false)
        {
            if (!budgeted(account)) return;
            var (p, c, l, h, x, t) = touched.GetValueOrDefault((account, period));
            touched[(account, period)] = (p + processed, c + crossAz, l || lifecycle, h + hours, x || exact, t || tax);
        }
        var rebilled = (decision.StayMoves ?? []).OfType<TrafficRebilled>().Select(r => r.EndpointId).ToHashSet(StringComparer.Ordinal);
        EndpointTimeline? TimelineOf(string endpoint) => decision.Timelines.GetValueOrDefault(endpoint) ?? before.GetValueOrDefault(endpoint);

        foreach (var t in decision.Traffic)
        {
            if (TimelineOf(t.EndpointId) is not { } e || e.EndpointType == EndpointType.Gateway) continue;
            var period = BillingPeriod.Of(t.At);
            Add(e.PayerAt(t.At), period, t.Bytes, 0);
            if (t.SourceAzId is { } source && source != t.AzId) Add(e.OwnerAccountId, period, 0, t.Bytes);
        }
        foreach (var stream in decision.Streams)
        {
            // Acceptance never changes a charge (spec 2: billed whatever the acceptance state).
            var records = stream.Events.OfType<IUsageRecord>().Where(r => r is not (EndpointAccepted or EndpointRejected)).ToList();
            if (records.Count == 0) continue;
            var period = BillingPeriod.Of(records.Min(r => r.At));
            var tax = stream.Aggregate == typeof(AccountProfile);
            var exact = records.Any(r => r is EndpointPayerChanged) || (records.Any(r => r is EndpointAzAdded) && rebilled.Contains(stream.Key));
            var free = (decision.Timelines.GetValueOrDefault(stream.Key) ?? before.GetValueOrDefault(stream.Key))?.EndpointType == EndpointType.Gateway;
            var hours = free ? 0 : MaxHoursInPeriod * (records.OfType<EndpointCreated>().Sum(c => c.AzIds.Count) + records.OfType<EndpointAzAdded>().Count());
            // An account's own records change its tax; an endpoint's, the charges of its owner and of every payer it had or has.
            IEnumerable<string> accounts = stream.Aggregate == typeof(AccountProfile) ? [stream.Key]
                : (decision.Timelines.GetValueOrDefault(stream.Key)?.Accounts ?? []).Union(before.GetValueOrDefault(stream.Key)?.Accounts ?? []);
            foreach (var account in accounts) Add(account, period, 0, 0, true, hours, exact, tax);
        }
        // Traffic that a later removal or deletion un-billed (or that an addition billed again) moves with the lifecycle record above.
        return touched.Select(kv => new SpendTouch(kv.Key.Account, kv.Key.Period, kv.Value.Processed, kv.Value.CrossAz, kv.Value.Lifecycle, kv.Value.Hours, kv.Value.Exact, kv.Value.Tax))
            .OrderBy(t => t.AccountId, StringComparer.Ordinal).ThenBy(t => t.Period).ToList();
    }
}
