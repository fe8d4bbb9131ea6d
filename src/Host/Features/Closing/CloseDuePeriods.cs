using System.Globalization;
using Billing.Invoicing.Closing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Marten;
using NodaTime;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Runtime.Handlers;

namespace Billing.Host.Features;

/// <summary>The recurring tick (every BILLING_CLOSE_TICK_SECONDS, default 10 minutes; <c>billing serve</c> only): close every open period whose end + grace has passed.</summary>
public sealed record CloseDuePeriods;

/// <summary>
/// The periods still open, the ones closed among them, and the ones whose failed close is already
/// waiting for its retry, for <see cref="PeriodClose.DuePeriods"/> and the tick to decide.
/// </summary>
public sealed record OpenPeriods(Instant Now, IReadOnlySet<BillingPeriod> Closed, IReadOnlySet<BillingPeriod>? Retrying = null);

public static class CloseDuePeriodsHandler
{
    /// <summary>
    /// A tick that cannot read (PostgreSQL away) is tried again after 1 and 5 s, then dropped, never
    /// parked: the next tick reads again, and a period left due too long makes /health/ready say so.
    /// </summary>
    public static void Configure(HandlerChain chain) =>
        chain.OnException<Exception>().RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5)).Then.Discard();

    public static async Task<OpenPeriods> LoadAsync(CloseDuePeriods _, IQuerySession session, LateWindow window, IClock clock, CancellationToken ct)
    {
        var now = clock.GetCurrentInstant();
        var closed = await session.LoadManyAsync<ClosedPeriod>(ct, window.OpenPeriods(now).Select(p => p.ToString()));
        return new OpenPeriods(now, closed.Select(c => c.Period).ToHashSet(), await CloseRetries.PendingAsync(session.DocumentStore, ct));
    }

    /// <summary>A period whose close is scheduled for a retry already gets no second close: a failing close never multiplies.</summary>
    public static OutgoingMessages Handle(CloseDuePeriods _, OpenPeriods open, LateWindow window, BillingSettings settings)
    {
        var outgoing = new OutgoingMessages();
        foreach (var period in PeriodClose.DuePeriods(open.Now, settings.CloseGrace, window, open.Closed))
            if (open.Retrying?.Contains(period) != true) outgoing.Add(new ClosePeriod(period, Access.Actor.Schedule.ToString()));
        return outgoing;
    }
}

/// <summary>
/// The tick's cron expression for BILLING_CLOSE_TICK_SECONDS. Wolverine's schedules are cron
/// expressions (six fields when the first is seconds), so the interval must divide a minute, an hour
/// or a day evenly: 600 is <c>*/10 * * * *</c>, the production default.
/// </summary>
public static class CloseSchedule
{
    public static string Cron(int seconds) => seconds switch
    {
        >= 1 and < 60 when 60 % seconds == 0 => $"*/{seconds} * * * * *",
        >= 60 and < 3600 when seconds % 60 == 0 && 60 % (seconds / 60) == 0 => $"*/{seconds / 60} * * * *",
        86400 => "0 0 * * *",
        >= 3600 and < 86400 when seconds % 3600 == 0 && 24 % (seconds / 3600) == 0 => $"0 */{seconds / 3600} * * *",
        _ => throw new InvalidOperationException(
            $"BILLING_CLOSE_TICK_SECONDS={seconds.ToString(CultureInfo.InvariantCulture)} cannot be a schedule: it must divide a minute, an hour or a day evenly (1-30 s, 1-30 min, 1-24 h in seconds, e.g. 600)"),
    };
}
