using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;

namespace Billing.Tests.Closing;

/// <summary>
/// `billing close` as a real process when the close cannot commit (the test holds an EXCLUSIVE lock on
/// the close records, and its database gives up waiting for a lock after 1 s): it prints PostgreSQL's
/// error, no stack trace, exits 1, and the failure is recorded for every node's readiness. The process
/// reads the machine's clock, so the period is last month by that clock.
/// </summary>
public sealed class CloseCommandFailureTests
{
    static readonly BillingPeriod Month = BillingPeriod.Of(NodaTime.SystemClock.Instance.GetCurrentInstant()).Previous;
    static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");

    [Fact]
    public async Task A_close_that_fails_prints_the_error_and_exits_1_and_the_failure_is_recorded()
    {
        var db = await PostgresLocks.DatabaseWithLockTimeoutAsync("billing_close_fails");
        // The schema, as any verb applies it.
        await using (var keys = ChildProcess.Start(Dll, db, "keys", "list"))
            Assert.True(await keys.WaitForExitAsync(TimeSpan.FromMinutes(2)) == 0, ChildProcess.Tail(keys.StandardError));

        await using (var held = await PostgresLocks.HoldAsync(db, "billing.mt_doc_closedperiod"))
        {
            await using var close = ChildProcess.Start(Dll, db, "close", "--period", Month.ToString());
            var exit = await close.WaitForExitAsync(TimeSpan.FromMinutes(2));
            Assert.True(exit == 1, $"exit {exit}\n{close.StandardOutput}\n{ChildProcess.Tail(close.StandardError)}");
            Assert.Contains($"billing: closing {Month} failed: PostgresException: 55P03: canceling statement due to lock timeout\n", close.StandardError);
            Assert.DoesNotContain("   at ", close.StandardError);
            Assert.DoesNotContain("invoices issued", close.StandardOutput);
        }

        await using var connection = new Npgsql.NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("select data ->> 'failures', data ->> 'lastError', data ->> 'lastRequestedBy', data ->> 'nextAttemptAt' from billing.mt_doc_closefailure where id = @p", connection);
        cmd.Parameters.AddWithValue("p", Month.ToString());
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "no failure recorded");
        Assert.Equal(("1", "PostgresException: 55P03: canceling statement due to lock timeout", $"cli:{Environment.UserName}", (string?)null),
            (reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
    }
}
