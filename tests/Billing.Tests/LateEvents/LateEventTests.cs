using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Tests.Support;
using Marten;
using NodaTime;

namespace Billing.Tests.LateEvents;

/// <summary>Late events: accepted for closed periods, billed on the next invoice as adjustments, issued invoices untouched.</summary>
public class LateEventTests
{
    static readonly string[] Month = [.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B, "Müller GmbH", "DE")];
    const long GiB = 1L << 30;

    [Fact]
    public async Task Late_october_events_become_adjustments_on_the_november_invoice()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 2, 0, 0));
        await host.ImportAsync(Month);
        var october = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        var invoiceA = october.Single(i => i.AccountId == OctoberScenario.A);
        var jsonBefore = await host.Http.GetStringAsync($"/api/invoices/{invoiceA.Number}");
        byte[] pdfBefore;
        await using (var s = host.Store.QuerySession()) pdfBefore = (await InvoicePdfsTable.ReadAsync(s, invoiceA.Number, CancellationToken.None))!;

        // November: E2 (GWLB, eu-west-1) keeps running. Late October records arrive on 5 November:
        // 4 GiB more through E1 in use1-az1 at 11:30 (A pays, cross-AZ from az2), and E2 was in fact
        // deleted on 31 October at 12:00 (so October has 12 fewer hours and November none).
        host.Clock.Set(Instant.FromUtc(2026, 11, 5, 0, 0));
        var late = await host.ImportAsync([
            Records.Traffic("late-1", "2026-10-01T11:30:00Z", OctoberScenario.E1, "use1-az1", "use1-az2", 4 * GiB),
            Records.Deleted("late-2", "2026-10-31T12:00:00Z", OctoberScenario.E2),
            Records.Traffic("too-old", "2026-07-31T12:00:00Z", OctoberScenario.E2, "euw1-az1", null, GiB),
        ]);
        Assert.Equal((2L, 1L), (late.Accepted, late.Rejected));

        host.Clock.Set(Instant.FromUtc(2026, 12, 2, 0, 0));
        var november = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 11), CancellationToken.None);
        var novA = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{november.Single(i => i.AccountId == OctoberScenario.A).Number}"))!;
        var adjustments = novA["lines"]!.AsArray().Where(l => (string)l!["kind"]! == "adjustment").ToList();
        var summary = adjustments.Select(l => $"{l!["adjusts"]} {l["of"]} {l["region"]} {l["quantity"]} {l["amount"]}").ToList();
        Assert.Equal([
            "2026-10 endpoint-hours eu-west-1 -12 -0.13",   // 744 h -> 732 h: 8.18 -> 8.05
            "2026-10 data-processing us-east-1 4.000000000 0.04",
            "2026-10 cross-az-out us-east-1 4.000000000 0.04",
            "2026-10 cross-az-in us-east-1 4.000000000 0.04",
        ], summary);
        Assert.DoesNotContain(novA["lines"]!.AsArray(), l => (string)l!["kind"]! == "endpoint-hours"); // E2 deleted in October
        Assert.Equal("-0.01", (string)novA["total"]!);

        // The October invoice is exactly as issued.
        Assert.Equal(jsonBefore, await host.Http.GetStringAsync($"/api/invoices/{invoiceA.Number}"));
        await using (var s = host.Store.QuerySession()) Assert.Equal(pdfBefore, await InvoicePdfsTable.ReadAsync(s, invoiceA.Number, CancellationToken.None));

        // Invariant: what was invoiced for October plus every later adjustment of it equals October computed afresh.
        await using var session = host.Store.QuerySession();
        var fresh = InvoiceCalculator.Lines(await UsageQueries.ForAccountAsync(session, OctoberScenario.A, new BillingPeriod(2026, 10), LateWindow.Default), PriceBook.Default);
        var invoiced = InvoiceJson.Read(jsonBefore).Lines
            .Concat(InvoiceJson.Read(novA.ToJsonString()).Lines.Where(l => l.Adjusts == new BillingPeriod(2026, 10)));
        Assert.Equal(fresh.Sum(l => l.Amount), invoiced.Sum(l => l.Amount));
        Assert.Equal(
            InvoiceAdjustments.Charged(fresh).OrderBy(l => l.Key.ToString()).Select(l => (l.Key, l.Quantity, l.Amount)),
            InvoiceAdjustments.Charged(invoiced).Where(l => l.Quantity != 0 || l.Amount != 0).OrderBy(l => l.Key.ToString()).Select(l => (l.Key, l.Quantity, l.Amount)));

        // A third close adds nothing more for October.
        host.Clock.Set(Instant.FromUtc(2027, 1, 2, 0, 0));
        var december = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 12), CancellationToken.None);
        Assert.DoesNotContain(december, i => i.AccountId == OctoberScenario.A);
    }

    [Fact]
    public async Task An_account_opened_after_its_period_closed_gets_that_invoice_at_the_next_close()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 2, 0, 0));
        await host.ImportAsync(OctoberScenario.Lines); // B pays part of October but has no account yet
        var october = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        Assert.Equal([OctoberScenario.A], october.Select(i => i.AccountId));

        host.Clock.Set(Instant.FromUtc(2026, 11, 5, 0, 0));
        await host.ImportAsync([Records.Opened("open-b", "2026-11-05T00:00:00Z", OctoberScenario.B, "Müller GmbH", "DE")]);
        host.Clock.Set(Instant.FromUtc(2026, 12, 2, 0, 0));
        // The close of November also sends B's October invoice (an IssueInvoice on the queue); the
        // tracked session ends once that has been handled too.
        await host.TrackBus(TimeSpan.FromSeconds(60)).ExecuteAndWaitAsync(_ => CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 11), CancellationToken.None));

        IssuedInvoice? owed;
        await using (var session = host.Store.QuerySession())
            owed = await session.Query<IssuedInvoice>().FirstOrDefaultAsync(i => i.AccountId == OctoberScenario.B);
        Assert.NotNull(owed);
        Assert.Equal(("2026-10", 0.21m), (owed.Period, owed.Total)); // 0.08 + 0.08 + 0.05, no tax in DE
        await using var check = host.Store.QuerySession();
        Assert.Equal(1, await check.Query<IssuedInvoice>().CountAsync(i => i.AccountId == OctoberScenario.B));
    }
}
