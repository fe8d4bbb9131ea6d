using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using NodaTime;

namespace Billing.Metering;

/// <summary>
/// A billing period: one calendar month in UTC, the half-open interval
/// [YYYY-MM-01T00:00Z, first day of next month T00:00Z). Written "YYYY-MM", in JSON too.
/// </summary>
[JsonConverter(typeof(BillingPeriodJsonConverter))]
public readonly record struct BillingPeriod(int Year, int Month) : IComparable<BillingPeriod>
{
    public Instant Start => Instant.FromUtc(Year, Month, 1, 0, 0);
    public Instant End => Next.Start;
    public BillingPeriod Next => Month == 12 ? new(Year + 1, 1) : new(Year, Month + 1);
    public BillingPeriod Previous => Month == 1 ? new(Year - 1, 12) : new(Year, Month - 1);

    /// <summary>The period <paramref name="periods"/> months before this one.</summary>
    public BillingPeriod Minus(int periods)
    {
        var index = Year * 12 + (Month - 1) - periods;
        return new(index / 12, index % 12 + 1);
    }
    public int Hours => (int)(End - Start).TotalHours;
    public Interval Interval => new(Start, End);

    public static BillingPeriod Of(Instant at)
    {
        var d = at.InUtc();
        return new(d.Year, d.Month);
    }

    public bool Contains(Instant at) => at >= Start && at < End;

    /// <summary>The clock hour of <paramref name="at"/> as an index from the period's first hour.</summary>
    public int HourIndex(Instant at) => (int)((at - Start).BclCompatibleTicks / NodaConstants.TicksPerHour);

    public Instant HourStart(int index) => Start + Duration.FromHours(index);

    public static BillingPeriod Parse(string text) =>
        TryParse(text, out var p) ? p : throw new FormatException($"'{text}' is not a billing period like 2026-10 (YYYY-MM)");

    public static bool TryParse(string? text, out BillingPeriod period)
    {
        period = default;
        if (text is not { Length: 7 } || text[4] != '-') return false;
        if (!int.TryParse(text.AsSpan(0, 4), NumberStyles.None, CultureInfo.InvariantCulture, out var y) ||
            !int.TryParse(text.AsSpan(5, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var m) ||
            y < 2000 || m is < 1 or > 12) return false;
        period = new(y, m);
        return true;
    }

    public override string ToString() => $"{Year:D4}-{Month:D2}";

    public int CompareTo(BillingPeriod other) => (Year, Month).CompareTo((other.Year, other.Month));
    public static bool operator <(BillingPeriod a, BillingPeriod b) => a.CompareTo(b) < 0;
    public static bool operator >(BillingPeriod a, BillingPeriod b) => a.CompareTo(b) > 0;
    public static bool operator <=(BillingPeriod a, BillingPeriod b) => a.CompareTo(b) <= 0;
    public static bool operator >=(BillingPeriod a, BillingPeriod b) => a.CompareTo(b) >= 0;
}

/// <summary>A period is the JSON string "YYYY-MM" (its other properties, Next among them, are derived).</summary>
public sealed class BillingPeriodJsonConverter : JsonConverter<BillingPeriod>
{
    public override BillingPeriod Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        BillingPeriod.TryParse(reader.GetString(), out var period) ? period : throw new JsonException($"'{reader.GetString()}' is not a billing period like 2026-10");

    public override void Write(Utf8JsonWriter writer, BillingPeriod value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
