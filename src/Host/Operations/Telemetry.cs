using Marten;
using JasperFx.OpenTelemetry;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Billing.Host.Operations;

/// <summary>
/// OpenTelemetry for the service: metrics always (scraped at /metrics), and traces plus an OTLP copy of
/// the metrics only when OTEL_EXPORTER_OTLP_ENDPOINT is set, since spans nobody exports only cost CPU.
/// </summary>
public static class Telemetry
{
    public const string ServiceName = "billing";
    public const string MetricsPath = "/metrics";

    /// <summary>The sources traced: Wolverine's messages, Marten's sessions and daemon, Npgsql's commands (AddNpgsql), ASP.NET Core's requests.</summary>
    public static readonly string[] TraceSources = ["Wolverine", "Marten"];

    /// <summary>Registers the metrics every host records (the handlers count through them) and Marten's own OpenTelemetry.</summary>
    public static IServiceCollection AddBillingMetrics(this IServiceCollection services)
    {
        services.AddSingleton<BillingMetrics>();
        services.ConfigureMarten((sp, opts) =>
        {
            opts.Listeners.Add(sp.GetRequiredService<BillingMetrics>().Marker);
            // Spans per connection only while a tracer listens to "Marten"; otherwise Marten skips the wrapper.
            opts.OpenTelemetry.TrackConnections = TrackLevel.Normal;
            opts.OpenTelemetry.TrackEventCounters();
        });
        return services;
    }

    /// <summary>The web host's exporters: Prometheus always, OTLP when configured; and the health checks.</summary>
    public static void AddBillingTelemetry(this IHostApplicationBuilder builder, BillingSettings settings)
    {
        builder.Services.AddBillingHealth();
        var otlp = settings.OtlpEndpoint is not null;
        // The exporters read their endpoint and protocol from configuration; the settings are the one source of both.
        if (otlp) builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] = settings.OtlpEndpoint;
        if (settings.OtlpProtocol is { } protocol) builder.Configuration["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(ServiceName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(BillingMetrics.MeterName, "Marten", "Wolverine:*")
                    .AddAspNetCoreInstrumentation()
                    .AddNpgsqlInstrumentation()
                    .AddPrometheusExporter();
                // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL / _HEADERS itself, appending each signal's path.
                if (otlp) metrics.AddOtlpExporter();
            });
        if (otlp)
            otel.WithTracing(tracing => tracing
                .AddSource(TraceSources)
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments("/health") && !http.Request.Path.StartsWithSegments(MetricsPath))
                .AddNpgsql()
                .AddOtlpExporter());
    }

    /// <summary>The Prometheus scrape endpoint; its builder is returned so that it can be put behind authorization in one place.</summary>
    public static IEndpointConventionBuilder MapBillingMetrics(this WebApplication app) => app.MapPrometheusScrapingEndpoint(MetricsPath);
}
