using Billing.Metering;
using NodaTime;

namespace Billing.Invoicing.Spend;

/// <summary>
/// Where a read of a period's spend at <see cref="AsOf"/> stands in the period (docs/spend.md):
/// the hours begun so far are billed (a partial hour rounds up, as at the end of a stay), and the
/// forecast carries the traffic of the last <see cref="TrailingHours"/> begun hours (at most a week)
/// over the <see cref="RemainingHours"/> still to come. A period that has ended is whole: nothing is
/// left to forecast. Pure.
/// </summary>
public sealed record SpendWindow(BillingPeriod Period, Instant AsOf)
{
    /// <summary>The trailing window of the traffic rate: a week, so weekdays and weekends weigh as they come.</summary>
    public const int TrailingWindowHours = 7 * 24;

    /// <summary>The instant the period is billed up to: <see cref="AsOf"/> inside the period, its start before it, its end after.</summary>
    public Instant Cutoff => AsOf < Period.Start ? Period.Start : AsOf > Period.End ? Period.End : AsOf;

    /// <summary>Whether the period is over: its charges no longer grow with time.</summary>
    public bool Ended => AsOf >= Period.End;

    /// <summary>The clock hours of the period begun by <see cref="Cutoff"/> (an hour starting exactly at it has not begun).</summary>
    public int HoursBegun => (int)Math.Ceiling((Cutoff - Period.Start).TotalHours);

    /// <summary>The hours whose traffic gives the rate: the last week of begun hours, or fewer early in the month.</summary>
    public int TrailingHours => Math.Min(TrailingWindowHours, HoursBegun);

    /// <summary>The first instant of the trailing window.</summary>
    public Instant TrailingFrom => Period.HourStart(HoursBegun - TrailingHours);

    /// <summary>The hours of the period not begun yet: what the forecast adds.</summary>
    public int RemainingHours => Period.Hours - HoursBegun;

    /// <summary>The clock hour the read is in, while the period runs: its charges step up when the next hour begins.</summary>
    public Instant Hour => EndpointHours.FloorToHour(Cutoff);
}
