using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Billing.Tests.Webhooks;

/// <summary>
/// A real webhook receiver: Kestrel on a free loopback port, recording every request (path, headers,
/// raw body, when) and answering as each path is told (200 by default). Being on loopback, the
/// service under test reaches it only with BILLING_WEBHOOK_ALLOW_PRIVATE=1.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public sealed record Request(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body, DateTime ReceivedAt)
    {
        public string Id => Headers.GetValueOrDefault("webhook-id") ?? "";
        public string Timestamp => Headers.GetValueOrDefault("webhook-timestamp") ?? "";
        public string Signature => Headers.GetValueOrDefault("webhook-signature") ?? "";
        public string Text => Encoding.UTF8.GetString(Body);
        public JsonElement Json => JsonDocument.Parse(Body).RootElement.Clone();
        public string Type => Json.GetProperty("type").GetString()!;
        public JsonElement Data => Json.GetProperty("data");
    }

    readonly ConcurrentQueue<Request> _requests = new();
    readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, Func<int, HttpContext, Task>> _answers = new(StringComparer.Ordinal);
    WebApplication _app = null!;

    public string BaseUrl { get; private set; } = "";

    public string Url(string path) => BaseUrl + path;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(receiver.ReceiveAsync);
        await app.StartAsync();
        receiver._app = app;
        receiver.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        return receiver;
    }

    /// <summary>How <paramref name="path"/> answers its n-th request (0 the first).</summary>
    public void Answer(string path, Func<int, HttpContext, Task> answer) => _answers[path] = answer;

    async Task ReceiveAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var path = context.Request.Path.Value ?? "/";
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);
        headers["method"] = context.Request.Method;
        var n = _counts.AddOrUpdate(path, 0, (_, c) => c + 1);
        _requests.Enqueue(new Request(path, headers, body.ToArray(), DateTime.UtcNow));
        if (_answers.TryGetValue(path, out var answer)) await answer(n, context);
        else context.Response.StatusCode = 200;
    }

    public List<Request> At(string path) => _requests.Where(r => r.Path == path).OrderBy(r => r.ReceivedAt).ToList();

    public List<Request> All => _requests.OrderBy(r => r.ReceivedAt).ToList();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// The Standard Webhooks signature checked without the sender's code: Python's hmac and hashlib
/// (/usr/bin/python3) compute HMAC-SHA256 over "id.timestamp.body" with the base64-decoded part of
/// the secret after "whsec_", and compare it with each "v1," signature of the header.
/// </summary>
public static class IndependentSignature
{
    const string Script = """
        import base64, hashlib, hmac, json, sys
        for line in sys.stdin:
            r = json.loads(line)
            key = base64.b64decode(r["secret"][len("whsec_"):] if r["secret"].startswith("whsec_") else r["secret"])
            signed = r["id"].encode() + b"." + r["timestamp"].encode() + b"." + base64.b64decode(r["body"])
            expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            ok = any(hmac.compare_digest(expected, s) for s in r["signature"].split(" "))
            print("ok" if ok else "bad: expected " + expected + ", got " + r["signature"])
        """;

    /// <summary>One line per request: "ok", or why not.</summary>
    public static async Task<List<string>> CheckAsync(IEnumerable<(string Secret, WebhookReceiver.Request Request)> signed)
    {
        var info = new ProcessStartInfo("/usr/bin/python3", ["-c", Script]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var python = Process.Start(info)!;
        foreach (var (secret, r) in signed)
            await python.StandardInput.WriteLineAsync(JsonSerializer.Serialize(new { secret, id = r.Id, timestamp = r.Timestamp, signature = r.Signature, body = Convert.ToBase64String(r.Body) }));
        python.StandardInput.Close();
        var output = await python.StandardOutput.ReadToEndAsync();
        var errors = await python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync();
        Assert.True(python.ExitCode == 0, $"python3 failed: {errors}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }
}
