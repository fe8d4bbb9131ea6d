using NodaTime;

namespace Billing.Metering;

/// <summary>
/// What happens to a late event (spec 8, v1.1): the late window bounds charges, not facts.
/// <list type="bullet">
/// <item>A period is <b>open</b> while it is at most <see cref="Periods"/> periods old, and
/// <b>frozen</b> from then on (at the start of the period <see cref="Periods"/> + 1 after it).</item>
/// <item>Traffic dated in a frozen period is refused (<c>too-late</c>); lifecycle records of any
/// age are accepted, and each remembers when it was recorded.</item>
/// <item>A fact counts in a period's charges only if that period was still open when the fact was
/// recorded. So a frozen period's charges never change, and a fact dated years back changes only
/// the periods that can still be invoiced or adjusted.</item>
/// <item>Closing period P recomputes and adjusts the <see cref="Periods"/> periods before it,
/// on exactly those facts; a frozen period is never closed, so never invoiced for the first time.</item>
/// </list>
/// </summary>
public sealed record LateWindow(int Periods)
{
    public static readonly LateWindow Default = new(3);

    /// <summary>The oldest period still open at <paramref name="now"/>.</summary>
    public BillingPeriod OldestOpen(Instant now) => BillingPeriod.Of(now).Minus(Periods);

    public bool IsFrozen(BillingPeriod period, Instant now) => period < OldestOpen(now);

    /// <summary>The periods open at <paramref name="now"/>, from the current one back to <see cref="OldestOpen"/>.</summary>
    public IEnumerable<BillingPeriod> OpenPeriods(Instant now)
    {
        for (var period = BillingPeriod.Of(now); period >= OldestOpen(now); period = period.Previous) yield return period;
    }

    /// <summary>
    /// Whether a fact recorded at <paramref name="recordedAt"/> counts in the charges of
    /// <paramref name="period"/>: only if the period was open then. Facts stored before the service
    /// recorded this (no instant) count everywhere, as they always did.
    /// </summary>
    public bool CountsIn(BillingPeriod period, Instant? recordedAt) => recordedAt is not { } at || !IsFrozen(period, at);

    /// <summary>The closed periods whose charges closing <paramref name="closing"/> recomputes, newest first.</summary>
    public IEnumerable<BillingPeriod> AdjustedBy(BillingPeriod closing)
    {
        for (var (q, i) = (closing.Previous, 0); i < Periods; q = q.Previous, i++) yield return q;
    }

    /// <summary>The periods whose close adjusts <paramref name="closed"/> (the inverse of <see cref="AdjustedBy"/>), oldest first.</summary>
    public IEnumerable<BillingPeriod> AdjustedByCloseOf(BillingPeriod closed)
    {
        for (var (p, i) = (closed.Next, 0); i < Periods; p = p.Next, i++) yield return p;
    }
}
