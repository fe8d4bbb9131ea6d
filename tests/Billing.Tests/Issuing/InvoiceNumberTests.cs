using Billing.Invoicing;
using Billing.Tests.Support;
using Marten;
using Npgsql;
using Xunit;

namespace Billing.Tests.Issuing;

/// <summary>How an invoice gets its number (InvoiceNumber.cs), on a real PostgreSQL: gapless, unique across transactions, given back on rollback.</summary>
public sealed class InvoiceNumberTests
{
    const int Year = 2031; // a year no other test issues in

    [Fact]
    public async Task A_rolled_back_issue_gives_its_numbers_back_and_a_second_issuer_waits_for_the_first()
    {
        await using var host = await BillingTestHost.StartAsync();
        var ct = CancellationToken.None;

        // Taken, then rolled back (the session is disposed without saving): the numbers return.
        await using (var rolledBack = host.Store.LightweightSession())
        {
            var locked = await LockAsync(rolledBack, ct);
            var (numbers, after) = locked.Take(2);
            Assert.Equal(["INV-2031-000001", "INV-2031-000002"], numbers);
            InvoiceNumbers.Save(rolledBack, locked, after);
        }

        await using var first = host.Store.LightweightSession();
        var firstLocked = await LockAsync(first, ct);
        var (firstNumbers, firstAfter) = firstLocked.Take(2);
        Assert.Equal(["INV-2031-000001", "INV-2031-000002"], firstNumbers);
        InvoiceNumbers.Save(first, firstLocked, firstAfter);

        // A second issuer asks while the first holds the year's lock: it waits (seen in pg_locks), then continues the sequence.
        await using var second = host.Store.LightweightSession();
        var secondLock = LockAsync(second, ct);
        await WaitForAsync(async () => await WaitingLocksAsync(host.Settings.ConnectionString) == 1);
        Assert.False(secondLock.IsCompleted);
        await first.SaveChangesAsync(ct);
        var secondLocked = await secondLock;
        var (secondNumbers, secondAfter) = secondLocked.Take(1);
        Assert.Equal(["INV-2031-000003"], secondNumbers);
        InvoiceNumbers.Save(second, secondLocked, secondAfter);
        await second.SaveChangesAsync(ct);

        await using var check = new NpgsqlConnection(host.Settings.ConnectionString);
        await check.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand($"select last_number from {InvoiceNumber.CountersTable} where year = {Year}", check);
        Assert.Equal(3, (int)(await cmd.ExecuteScalarAsync(ct))!);
    }

    static async Task<NumberSequence> LockAsync(IDocumentSession session, CancellationToken ct)
    {
        await session.BeginTransactionAsync(ct);
        return await InvoiceNumbers.LockAsync((NpgsqlConnection)session.Connection!, Year, ct);
    }

    static async Task<long> WaitingLocksAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid where not l.granted and a.datname = current_database()", connection);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>Polls a condition the database reports (another transaction's lock wait, which no bus sees): up to 30 s.</summary>
    static Task WaitForAsync(Func<Task<bool>> condition) =>
        Eventually.UntilAsync(condition, TimeSpan.FromSeconds(30), "the second issuer waiting for the year's lock", TimeSpan.FromMilliseconds(20));
}
