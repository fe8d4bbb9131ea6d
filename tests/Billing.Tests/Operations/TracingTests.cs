using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using Billing.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Billing.Tests.Operations;

/// <summary>
/// Traces are on only with an OTLP endpoint. With them on, Marten wraps its connections for tracing,
/// and ingest (which takes the session's connection for its partition locks) must work as before.
/// </summary>
public class TracingTests
{
    const string E = "vpce-55555555555555556";

    [Fact]
    public async Task Without_an_otlp_endpoint_nothing_is_traced()
    {
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { OtlpEndpoint = null });
        Assert.Null(host.Services.GetService<TracerProvider>());
    }

    [Fact]
    public async Task With_an_otlp_endpoint_a_posted_batch_is_decided_as_before_and_traced_through_wolverine_and_npgsql()
    {
        // Nothing listens on the endpoint: export fails quietly, which is what a collector being down does.
        await using var host = await BillingTestHost.StartAsync(configure: s => s with { OtlpEndpoint = "http://127.0.0.1:9" });
        Assert.NotNull(host.Services.GetService<TracerProvider>());
        var seen = new ConcurrentDictionary<string, bool>();
        using var listener = new ActivityListener
        {
            // Listens alongside the host's provider: it sees the spans the provider's sampler let through.
            ShouldListenTo = s => s.Name is "Wolverine" or "Marten" or "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.None,
            ActivityStopped = a => seen[a.Source.Name] = true,
        };
        ActivitySource.AddActivityListener(listener);

        var body = "[" + Records.Created("t-1", "2026-10-01T00:00:00Z", E, "555566667778", "us-east-1", "Interface", "use1-az1") + "]";
        var posted = await host.Http.PostAsync("/api/usage/events", new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.OK, text);
        Assert.Contains("\"accepted\":1", text);
        // Marten's "marten.connection" spans were not seen on this path (sessions opened by Wolverine): not asserted, see docs/operations.md.
        Assert.Contains("Wolverine", seen.Keys);
        Assert.Contains("Npgsql", seen.Keys);
    }
}
