using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Tests.Support;
using Billing.Host.Features;
using Wolverine.Tracking;

namespace Billing.Tests.Issuing;

/// <summary>Issuing a group of invoices: each account once, numbered in the group's order.</summary>
public class IssueInvoicesTests
{
    static readonly BillingPeriod October = new(2026, 10);

    static readonly string[] Month = [.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B, "株式会社サンプル", "JP")];

    [Fact]
    public async Task A_batch_issued_twice_issues_each_invoice_once_numbered_in_the_batch_order()
    {
        await using var host = await BillingTestHost.StartAsync();
        await host.ImportAsync(Month);
        Dictionary<string, AccountUsage> usage;
        await using (var reader = host.Store.QuerySession()) usage = await UsageQueries.ForPeriodAsync(reader, October, host.Settings.LateWindow);
        // B before A: numbers follow the order of the batch, not the account ids.
        var charges = new[] { OctoberScenario.B, OctoberScenario.A }.Select(a => new AccountCharges(a, usage[a], [])).ToList();

        // Through the bus, tracked until the PDFs it asked for are rendered as well (the notices go to downstream consumers, not listened to here).
        async Task<List<string>> IssueAsync()
        {
            var (_, issued) = await host.App.TrackActivity().IncludeExternalTransports().IgnoreMessageType<InvoiceIssuedNotice>().Timeout(TimeSpan.FromMinutes(1))
                .InvokeAndWaitAsync<IssueResults>(new IssueInvoices(October, charges));
            return issued!.Results.Select(r => $"{r.AccountId} {r.Outcome} {r.Number} {r.Total}").ToList();
        }

        Assert.Equal([$"{OctoberScenario.B} issued INV-2026-000001 0.23", $"{OctoberScenario.A} issued INV-2026-000002 8.54"], await IssueAsync());
        Assert.Equal([$"{OctoberScenario.B} already issued INV-2026-000001 ", $"{OctoberScenario.A} already issued INV-2026-000002 "], await IssueAsync());
        Assert.Equal(2L, await host.ScalarAsync("select last_number from billing.invoice_counters where year = 2026"));
        Assert.Equal(2L, await host.ScalarAsync("select count(*) from billing.invoice_pdfs"));
        Assert.Equal(["INV-2026-000001", "INV-2026-000002"], (await host.InvoicesAsync()).Select(i => i.Number));
    }
}
