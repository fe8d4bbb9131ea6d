using Billing.Host.Features;
using Billing.Invoicing.Issuing;
using Billing.Tests.Support;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using Wolverine;

namespace Billing.Tests.Closing;

/// <summary>The recurring tick closes each period once its grace has passed.</summary>
public class CloseDuePeriodsTests
{
    static readonly string[] Month = [.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B, "株式会社サンプル", "JP")];

    static async Task<List<IssuedInvoice>> InvoicesAsync(BillingTestHost host)
    {
        await using var session = host.Store.QuerySession();
        return (await session.Query<IssuedInvoice>().ToListAsync()).OrderBy(i => i.Number).ToList();
    }

    [Fact]
    public async Task The_schedule_closes_a_period_only_once_its_grace_has_passed()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 1, 23, 0));
        await host.ImportAsync(Month);
        var bus = host.Services.GetRequiredService<IMessageBus>();

        await bus.InvokeAsync(new CloseDuePeriods()); // 23 h after October's end: only September is due
        var september = Assert.Single(await WaitForInvoicesAsync(host, "2026-09", 1));
        await Task.Delay(1000);
        Assert.Single(await InvoicesAsync(host)); // and nothing for October
        Assert.Equal(("2026-09", OctoberScenario.A, "INV-2026-000001"), (september.Period, september.AccountId, september.Number));

        host.Clock.Set(Instant.FromUtc(2026, 11, 2, 0, 0)); // end + 24 h
        await bus.InvokeAsync(new CloseDuePeriods());
        var invoices = await WaitForInvoicesAsync(host, "2026-10", 2);
        Assert.Equal([OctoberScenario.A, OctoberScenario.B], invoices.Select(i => i.AccountId).Order());
        Assert.All(invoices, i => Assert.Equal(Instant.FromUtc(2026, 11, 2, 0, 0), i.IssuedAt));
    }

    static async Task<List<IssuedInvoice>> WaitForInvoicesAsync(BillingTestHost host, string period, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<IssuedInvoice> invoices;
        do
        {
            await Task.Delay(200);
            invoices = (await InvoicesAsync(host)).Where(i => i.Period == period).ToList();
        } while (invoices.Count < count && DateTime.UtcNow < deadline);
        return invoices;
    }
}
