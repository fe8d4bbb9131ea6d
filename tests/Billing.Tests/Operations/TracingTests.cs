using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Billing.Tests.Operations;

/// <summary>
/// Traces are on only with an OTLP endpoint, and tracing never changes behaviour: with Marten,
/// Wolverine, Npgsql and ASP.NET Core traced (every test host is, see <see cref="BillingTestHost"/>),
/// ingest, the close (whose usage snapshot once failed under Marten's connection tracing), the
/// issue, verify and the PDF work as before, and their spans reach the collector.
/// </summary>
public class TracingTests
{
    const string A = "555566667778";
    const string E = "vpce-55555555555555556";

    [Fact]
    public async Task Without_an_otlp_endpoint_nothing_is_traced()
    {
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { OtlpEndpoint = null });
        Assert.Null(host.Services.GetService<TracerProvider>());
    }

    [Fact]
    public async Task Traced_to_a_collector_a_batch_is_decided_a_period_closes_and_its_invoice_verifies_and_the_spans_arrive()
    {
        var receiver = await OtlpReceiver.Shared;
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 5, 0, 0));
        var provider = host.Services.GetRequiredService<TracerProvider>();
        var instance = (string?)provider.GetResource().Attributes.Single(a => a.Key == "service.instance.id").Value;

        var body = "[" + string.Join(",",
            Records.Opened("t-1", "2026-10-01T00:00:00Z", A),
            Records.Created("t-2", "2026-10-01T00:00:00Z", E, A, "us-east-1", "Interface", "use1-az1"),
            Records.Traffic("t-3", "2026-10-02T10:00:00Z", E, "use1-az1", "use1-az2", 2L << 30)) + "]";
        var posted = await host.Http.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, text);
        Assert.Contains("\"accepted\":3", text);

        // The close reads its usage in a snapshot session; under Marten's connection tracing that session once threw.
        var invoices = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        var invoice = Assert.Single(invoices);
        var json = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{invoice.Number}"))!;
        // 744 endpoint-hours at 0.01, 2 GB processed at 0.01, 2 GB cross-AZ each way at 0.01.
        Assert.Equal("7.50", (string)json["total"]!);
        var verified = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{invoice.Number}/verify"))!;
        Assert.True((bool)verified["matches"]!, verified.ToJsonString());
        var pdf = await host.Http.GetByteArrayAsync($"/api/invoices/{invoice.Number}/pdf");
        Assert.Equal("%PDF", Encoding.ASCII.GetString(pdf, 0, 4));

        Assert.True(provider.ForceFlush(10_000));
        var mine = receiver.Spans.Where(s => s.ServiceInstance == instance).ToList();
        string Seen() => string.Join("\n", mine.Select(s => $"{s.Scope}: {s.Name}").Distinct().Order());
        foreach (var handled in new[] { typeof(IngestBatch), typeof(ClosePeriod), typeof(IssueInvoices), typeof(RenderInvoicePdfs) })
            Assert.True(mine.Any(s => s.Scope == "Wolverine" && s.Name == handled.FullName), $"no span of {handled.Name}:\n{Seen()}");
        Assert.True(mine.Any(s => s.Scope == "Marten" && s.Name == "marten.connection"), Seen());
        Assert.True(mine.Any(s => s.Scope == "Npgsql"), Seen());
        Assert.True(mine.Any(s => s.Scope == "Microsoft.AspNetCore" && s.Name == "GET /api/invoices/{number}/verify"), Seen());
    }
}
