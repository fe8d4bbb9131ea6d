using NodaTime;

namespace Billing.Metering;

/// <summary>
/// How an endpoint-hour is counted (billing-rules.md section 2).
/// An endpoint's stays in one AZ are half-open intervals [start, end). A clock hour
/// [HH:00, HH+1:00) of the period is billed once if any stay overlaps it with positive length,
/// however many stays do: partial hours round up, re-entering within an hour bills it once,
/// and a zero-length stay bills nothing.
/// </summary>
public static class EndpointHours
{
    static readonly Duration Hour = Duration.FromHours(1);

    /// <summary>
    /// The billed clock hours of <paramref name="period"/>, each with the first instant of the hour
    /// at which the endpoint is provisioned (the payer in effect then pays for the hour), in hour order.
    /// </summary>
    public static SortedList<Instant, Instant> BilledHours(IEnumerable<Interval> stays, BillingPeriod period)
    {
        // A sorted list rather than a tree: stays usually come in time order, so hours are appended at
        // the end, and a month is at most 744 entries in two arrays instead of 744 tree nodes.
        var clipped = new List<(Instant Start, Instant End)>();
        var capacity = 0;
        foreach (var stay in stays)
        {
            var start = Max(stay.HasStart ? stay.Start : period.Start, period.Start);
            var end = Min(stay.HasEnd ? stay.End : period.End, period.End);
            if (start >= end) continue; // zero-length or outside the period: nothing to bill
            clipped.Add((start, end));
            capacity += (int)Math.Ceiling((end - FloorToHour(start)).TotalHours);
        }

        var hours = new SortedList<Instant, Instant>(Math.Min(capacity, period.Hours));
        foreach (var (start, end) in clipped)
        {
            for (var hour = FloorToHour(start); hour < end; hour += Hour)
            {
                var first = Max(hour, start);
                if (!hours.TryGetValue(hour, out var known)) hours.Add(hour, first);
                else if (first < known) hours[hour] = first;
            }
        }
        return hours;
    }

    public static int Count(IEnumerable<Interval> stays, BillingPeriod period) => BilledHours(stays, period).Count;

    public static Instant FloorToHour(Instant at)
    {
        var ticks = at.ToUnixTimeTicks();
        return Instant.FromUnixTimeTicks(ticks - Mod(ticks, NodaConstants.TicksPerHour));
    }

    static long Mod(long a, long m) => ((a % m) + m) % m;
    static Instant Max(Instant a, Instant b) => a > b ? a : b;
    static Instant Min(Instant a, Instant b) => a < b ? a : b;
}
