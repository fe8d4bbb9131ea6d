using Billing.Host.Features;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;
using Wolverine.Tracking;

namespace Billing.Tests.Closing;

/// <summary>The recurring tick closes each period once its grace has passed.</summary>
public class CloseDuePeriodsTests
{
    static readonly string[] Month = [.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B, "株式会社サンプル", "JP")];

    [Fact]
    public async Task The_schedule_closes_a_period_only_once_its_grace_has_passed()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 1, 23, 0));
        await host.ImportAsync(Month);
        // 23 h after October's end: only September is due. The tracked session ends once every
        // message of the tick (its closes and their issues) has been handled, so "nothing for
        // October" is asserted after the fact, not after a guessed pause.
        var tick = await host.TrackBus(TimeSpan.FromSeconds(60)).InvokeMessageAndWaitAsync(new CloseDuePeriods());
        Assert.Contains(new BillingPeriod(2026, 9), tick.Executed.MessagesOf<ClosePeriod>().Select(c => c.Period));
        Assert.DoesNotContain(new BillingPeriod(2026, 10), tick.Executed.MessagesOf<ClosePeriod>().Select(c => c.Period));
        var september = Assert.Single(await host.InvoicesAsync()); // and nothing for October
        Assert.Equal(("2026-09", OctoberScenario.A, "INV-2026-000001"), (september.Period, september.AccountId, september.Number));

        host.Clock.Set(Instant.FromUtc(2026, 11, 2, 0, 0)); // end + 24 h
        await host.TrackBus(TimeSpan.FromSeconds(60)).InvokeMessageAndWaitAsync(new CloseDuePeriods());
        var invoices = (await host.InvoicesAsync()).Where(i => i.Period == "2026-10").ToList();
        Assert.Equal([OctoberScenario.A, OctoberScenario.B], invoices.Select(i => i.AccountId).Order());
        Assert.All(invoices, i => Assert.Equal(Instant.FromUtc(2026, 11, 2, 0, 0), i.IssuedAt));
    }
}
