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
/// <item>An issuing transaction locks its year's row first (<see cref="InvoiceNumbers.LockAsync"/>,
/// <c>select … for update</c>) and holds it until it commits: another issuer, in this process or any
/// other, waits. So numbers are unique and follow one another in the order they are taken.</item>
/// <item>The new last number is written in that same transaction, with the invoices that print the
/// numbers (<see cref="InvoiceNumbers.Save"/>): an issue that rolls back gives its numbers back, and
/// the next one takes them. No number is ever skipped.</item>
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

/// <summary>The numbers one issuing transaction takes from its year's sequence, under the year's lock.</summary>
public sealed class InvoiceNumbers
{
    readonly int _year;
    readonly int _last;
    int _taken;

    InvoiceNumbers(int year, int last) => (_year, _last) = (year, last);

    /// <summary>Locks <paramref name="year"/>'s counter in the connection's open transaction (creating it at 0 for a new year).</summary>
    public static async Task<InvoiceNumbers> LockAsync(NpgsqlConnection connection, int year, CancellationToken ct)
    {
        await using (var ensure = new NpgsqlCommand($"insert into {InvoiceNumber.CountersTable} (year, last_number) values (@year, 0) on conflict do nothing", connection))
        {
            ensure.Parameters.AddWithValue("year", year);
            await ensure.ExecuteNonQueryAsync(ct);
        }
        await using var select = new NpgsqlCommand($"select last_number from {InvoiceNumber.CountersTable} where year = @year for update", connection);
        select.Parameters.AddWithValue("year", year);
        return new InvoiceNumbers(year, Convert.ToInt32(await select.ExecuteScalarAsync(ct)));
    }

    /// <summary>The next number of the year.</summary>
    public string Next() => InvoiceNumber.Format(_year, _last + ++_taken);

    /// <summary>Queues the year's new last number; it commits, or rolls back, with the invoices.</summary>
    public void Save(IDocumentOperations ops)
    {
        if (_taken > 0) ops.QueueSqlCommand($"update {InvoiceNumber.CountersTable} set last_number = ? where year = ?", _last + _taken, _year);
    }
}
