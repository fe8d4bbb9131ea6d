using System.Globalization;

namespace Billing.Invoicing;

/// <summary>"INV-YYYY-NNNNNN": YYYY the year of issue, NNNNNN gapless from 000001 within the year (spec section 7).</summary>
public static class InvoiceNumber
{
    public const int MaxSequence = 999_999;

    public static string Format(int year, int sequence)
    {
        if (year is < 1000 or > 9999) throw new ArgumentOutOfRangeException(nameof(year), year, "a year of four digits");
        if (sequence is < 1 or > MaxSequence) throw new ArgumentOutOfRangeException(nameof(sequence), sequence, "1 to 999999");
        return string.Create(CultureInfo.InvariantCulture, $"INV-{year:D4}-{sequence:D6}");
    }

    public static bool TryParse(string? number, out int year, out int sequence)
    {
        year = sequence = 0;
        return number is { Length: 15 } && number.StartsWith("INV-", StringComparison.Ordinal) && number[8] == '-' &&
               int.TryParse(number.AsSpan(4, 4), NumberStyles.None, CultureInfo.InvariantCulture, out year) &&
               int.TryParse(number.AsSpan(9, 6), NumberStyles.None, CultureInfo.InvariantCulture, out sequence) &&
               year >= 1000 && sequence >= 1;
    }
}
