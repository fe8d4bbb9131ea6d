using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Billing.Tests.Support;

/// <summary>A span as an OTLP exporter sent it: the service's instance, the instrumentation scope (the ActivitySource) and the span's name.</summary>
public sealed record ReceivedSpan(string? ServiceInstance, string Scope, string Name, string TraceId, string SpanId, string ParentSpanId);

/// <summary>
/// A local OTLP/HTTP receiver (protobuf, as OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf sends): every
/// test host exports its traces and metrics here, as production exports to a collector, so every
/// integration test runs with Marten, Wolverine, Npgsql and ASP.NET Core traced.
/// The spans are decoded from the protobuf wire format (opentelemetry-proto's trace.proto field numbers).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    static readonly Lazy<Task<OtlpReceiver>> SharedReceiver = new(() => StartAsync());

    /// <summary>The receiver every in-process test host exports to.</summary>
    public static Task<OtlpReceiver> Shared => SharedReceiver.Value;

    readonly WebApplication _app;
    readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    long _metricRequests;

    OtlpReceiver(WebApplication app, string endpoint) => (_app, Endpoint) = (app, endpoint);

    /// <summary>The base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT takes it (the exporter appends /v1/traces and /v1/metrics).</summary>
    public string Endpoint { get; }

    public IReadOnlyList<ReceivedSpan> Spans => _spans.ToArray();

    public long MetricRequests => Interlocked.Read(ref _metricRequests);

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        // The hosts' ASP.NET Core tracing would trace this receiver's requests too (its source is process-wide), and each export would export more.
        app.Use((context, next) =>
        {
            if (System.Diagnostics.Activity.Current is { } activity)
            {
                activity.IsAllDataRequested = false;
                activity.ActivityTraceFlags &= ~System.Diagnostics.ActivityTraceFlags.Recorded;
            }
            return next(context);
        });
        OtlpReceiver? receiver = null;
        app.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            foreach (var span in Decode(body.ToArray())) receiver!._spans.Enqueue(span);
            return Results.Bytes([], "application/x-protobuf");
        });
        app.MapPost("/v1/metrics", async (HttpRequest request) =>
        {
            await request.Body.CopyToAsync(Stream.Null);
            Interlocked.Increment(ref receiver!._metricRequests);
            return Results.Bytes([], "application/x-protobuf");
        });
        app.MapPost("/v1/logs", async (HttpRequest request) =>
        {
            await request.Body.CopyToAsync(Stream.Null);
            return Results.Bytes([], "application/x-protobuf");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver = new OtlpReceiver(app, address);
        return receiver;
    }

    /// <summary>ExportTraceServiceRequest: resource_spans = 1; ResourceSpans: resource = 1, scope_spans = 2; ScopeSpans: scope = 1, spans = 2.</summary>
    static IEnumerable<ReceivedSpan> Decode(byte[] request)
    {
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1).Select(f => f.Bytes))
        {
            string? instance = null;
            foreach (var resource in Fields(resourceSpans).Where(f => f.Number == 1))
                foreach (var attribute in Fields(resource.Bytes).Where(f => f.Number == 1)) // Resource.attributes: KeyValue{key = 1, value = 2 AnyValue{string_value = 1}}
                {
                    var kv = Fields(attribute.Bytes).ToList();
                    if (Text(kv, 1) == "service.instance.id" && kv.FirstOrDefault(f => f.Number == 2).Value is { } value) instance = Text(Fields(value).ToList(), 1);
                }
            foreach (var scopeSpans in Fields(resourceSpans).Where(f => f.Number == 2).Select(f => f.Bytes))
            {
                var fields = Fields(scopeSpans).ToList();
                var scope = fields.Where(f => f.Number == 1).Select(f => Text(Fields(f.Bytes).ToList(), 1)).FirstOrDefault() ?? "";
                foreach (var span in fields.Where(f => f.Number == 2))
                {
                    // Span: trace_id = 1, span_id = 2, parent_span_id = 4, name = 5.
                    var s = Fields(span.Bytes).ToList();
                    yield return new ReceivedSpan(instance, scope, Text(s, 5) ?? "", Hex(s, 1), Hex(s, 2), Hex(s, 4));
                }
            }
        }
    }

    static string? Text(List<Field> fields, int number) =>
        fields.FirstOrDefault(f => f.Number == number).Value is { } b ? System.Text.Encoding.UTF8.GetString(b) : null;

    static string Hex(List<Field> fields, int number) =>
        fields.FirstOrDefault(f => f.Number == number).Value is { } b ? Convert.ToHexStringLower(b) : "";

    readonly record struct Field(int Number, byte[]? Value)
    {
        public byte[] Bytes => Value ?? [];
    }

    /// <summary>The fields of a protobuf message; only length-delimited ones carry bytes, the others are skipped.</summary>
    static IEnumerable<Field> Fields(byte[] message)
    {
        var at = 0;
        while (at < message.Length)
        {
            var key = Varint(message, ref at);
            var (number, wire) = ((int)(key >> 3), (int)(key & 7));
            switch (wire)
            {
                case 0: Varint(message, ref at); yield return new Field(number, null); break;
                case 1: at += 8; yield return new Field(number, null); break;
                case 5: at += 4; yield return new Field(number, null); break;
                case 2:
                    var length = (int)Varint(message, ref at);
                    yield return new Field(number, message[at..(at + length)]);
                    at += length;
                    break;
                default: throw new InvalidDataException($"protobuf wire type {wire} at byte {at} is not one OTLP uses");
            }
        }
    }

    static ulong Varint(byte[] message, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = message[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
