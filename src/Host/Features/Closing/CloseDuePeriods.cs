using Billing.Invoicing.Closing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Marten;
using NodaTime;
using Wolverine;

namespace Billing.Host.Features;

/// <summary>The recurring tick (every 10 minutes, <c>billing serve</c> only): close every open period whose end + grace has passed.</summary>
public sealed record CloseDuePeriods;

/// <summary>The periods still open and the ones closed among them, for <see cref="PeriodClose.DuePeriods"/> to decide.</summary>
public sealed record OpenPeriods(Instant Now, IReadOnlySet<BillingPeriod> Closed);

public static class CloseDuePeriodsHandler
{
    public static async Task<OpenPeriods> LoadAsync(CloseDuePeriods _, IQuerySession session, LateWindow window, IClock clock, CancellationToken ct)
    {
        var now = clock.GetCurrentInstant();
        var closed = await session.LoadManyAsync<ClosedPeriod>(ct, window.OpenPeriods(now).Select(p => p.ToString()));
        return new OpenPeriods(now, closed.Select(c => c.Period).ToHashSet());
    }

    public static OutgoingMessages Handle(CloseDuePeriods _, OpenPeriods open, LateWindow window, BillingSettings settings)
    {
        var outgoing = new OutgoingMessages();
        foreach (var period in PeriodClose.DuePeriods(open.Now, settings.CloseGrace, window, open.Closed)) outgoing.Add(new ClosePeriod(period, Access.Actor.Schedule.ToString()));
        return outgoing;
    }
}
