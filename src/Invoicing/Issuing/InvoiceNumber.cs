using System.Globalization;
using Marten;
using Npgsql;
using Weasel.Postgresql.Tables;

namespace Billing.Invoicing;

/// <summary>
/// How an invoice gets its number (spec section 7), the whole rule:
/// <list type="number">
/// <item>The number is <c>INV-YYYY-NNNNNN</c>: YYYY the UTC year of issue, NNNNNN that year's
/// sequence from 000001, with no gaps.</item>
/// <item>Each year's last number is one row of <c>billing.invoice_counters</c>.</item>
/// <item>An issuing transaction locks its year's row (<see cref="InvoiceNumbers.LockAsync"/>,
/// <c>select … for update</c>) and holds it until it commits: another issuer, in this process or any
/// other, waits. So numbers are unique and follow one another in the order they are taken
/// (<see cref="NumberSequence.Take"/>).</item>
/// <item>The new last number is written in that same transaction, with the invoices that carry the
/// numbers (<see cref="InvoiceNumbers.Save"/>): an issue that rolls back gives its numbers back, and
/// the next one takes them. No number is ever skipped.</item>
/// <item>Nothing slow happens under the lock: the PDFs, which print the numbers, are rendered after
/// the commit from the issued invoices (docs/invoicing.md, "Closing fast").</item>
/// </list>
/// </summary>
public static class InvoiceNumber
{
    public const int MaxSequence = 999_999;
    public const string CountersTable = $"{Billing.Metering.MeteringStore.Schema}.invoice_counters";

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

    public static Table Counters()
    {
        var counters = new Table(CountersTable);
        counters.AddColumn<int>("year").AsPrimaryKey();
        counters.AddColumn<int>("last_number").NotNull();
        return counters;
    }
}

/// <summary>
/// A year's sequence as one issuing transaction locked it: plain data, so the issuer takes its numbers
/// without any I/O (<see cref="Take"/>) and the new last number is saved with the invoices.
/// </summary>
public sealed record NumberSequence(int Year, int Last)
{
    /// <summary>The next <paramref name="count"/> numbers of the year, in order, and the sequence after them.</summary>
    public (IReadOnlyList<string> Numbers, NumberSequence After) Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var numbers = Enumerable.Range(Last + 1, count).Select(n => InvoiceNumber.Format(Year, n)).ToList();
        return (numbers, this with { Last = Last + count });
    }
}

/// <summary>The counter row's adapter: its lock and its update.</summary>
public static class InvoiceNumbers
{
    /// <summary>Locks <paramref name="year"/>'s counter in the connection's open transaction (creating it at 0 for a new year).</summary>
    public static async Task<NumberSequence> LockAsync(NpgsqlConnection connection, int year, CancellationToken ct)
    {
        await using (var ensure = new NpgsqlCommand($"insert into {InvoiceNumber.CountersTable} (year, last_number) values (@year, 0) on conflict do nothing", connection))
        {
            ensure.Parameters.AddWithValue("year", year);
            await ensure.ExecuteNonQueryAsync(ct);
        }
        await using var select = new NpgsqlCommand($"select last_number from {InvoiceNumber.CountersTable} where year = @year for update", connection);
        select.Parameters.AddWithValue("year", year);
        return new NumberSequence(year, Convert.ToInt32(await select.ExecuteScalarAsync(ct)));
    }

    /// <summary>Queues the year's new last number; it commits, or rolls back, with the invoices that print the numbers.</summary>
    public static void Save(IDocumentOperations ops, NumberSequence locked, NumberSequence after)
    {
        if (after.Year != locked.Year) throw new ArgumentException($"the sequence of {after.Year} was not the one locked ({locked.Year})", nameof(after));
        if (after.Last != locked.Last)
            ops.QueueSqlCommand($"update {InvoiceNumber.CountersTable} set last_number = ? where year = ?", after.Last, after.Year);
    }
}
