using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NodaTime;
using StandardWebhooks;

namespace Billing.Host.Features.Webhooks;

/// <summary>What one attempt gave: see <see cref="WebhookAttempt"/>.</summary>
public sealed record AttemptOutcome(string Status, int? ResponseCode, long DurationMs, string? Error, string? Response)
{
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Refused = "refused";

    public bool IsSuccess => Status == Succeeded;
}

/// <summary>The address a delivery was about to connect to is not allowed (<see cref="WebhookAddresses"/>).</summary>
public sealed class WebhookRefusedException(string reason) : Exception(reason);

/// <summary>
/// Posts one signed message to one endpoint (Standard Webhooks: <c>webhook-id</c>,
/// <c>webhook-timestamp</c>, <c>webhook-signature</c> = <c>v1,</c> + base64 HMAC-SHA256 of
/// <c>id.timestamp.body</c>, signed by the StandardWebhooks package). Guarded against SSRF where it
/// matters, at the connection: the host name is resolved here and every address it resolves to is
/// judged before a socket opens, so a name that resolved to a public address at creation and to a
/// private one now (DNS rebinding) is refused. No proxy (it would connect for us), no redirects, no
/// decompression; the whole attempt has a deadline and at most a capped part of the answer is read.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    /// <summary>How much of an answer is kept in the attempt's record.</summary>
    public const int KeptResponseChars = 1000;

    readonly WebhookSettings _settings;
    readonly HttpClient _http;

    public WebhookSender(WebhookSettings settings)
    {
        _settings = settings;
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = settings.Timeout,
            MaxResponseHeadersLength = 64, // KiB
            // A pooled connection keeps the address judged when it opened; a new one resolves and judges again.
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = ConnectAsync,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // each attempt has its own deadline
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("billing-webhooks/1");
    }

    async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        if (!_settings.AllowPrivate && WebhookAddresses.RefuseResolved(host, addresses) is { } refused) throw new WebhookRefusedException(refused);
        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
        }
        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>The Standard Webhooks headers of <paramref name="message"/> sent at <paramref name="at"/> with <paramref name="secret"/>.</summary>
    public static (string Id, string Timestamp, string Signature) Headers(WebhookMessage message, string secret, Instant at) =>
        (message.Id, at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), new StandardWebhook(secret).Sign(message.Id, at.ToDateTimeOffset(), message.Body));

    public async Task<AttemptOutcome> SendAsync(WebhookEndpoint endpoint, WebhookMessage message, Instant at, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        if (WebhookAddresses.RefuseUrl(endpoint.Url, _settings.AllowPrivate, out var uri) is { } badUrl)
            return new AttemptOutcome(AttemptOutcome.Refused, null, watch.ElapsedMilliseconds, badUrl, null);
        var (id, timestamp, signature) = Headers(message, endpoint.Secret, at);
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(message.Body, new UTF8Encoding(false), "application/json") };
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp);
        request.Headers.Add("webhook-signature", signature);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(_settings.Timeout);
        int? code = null;
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            code = (int)response.StatusCode;
            var (text, cut) = await ReadCappedAsync(response, deadline.Token);
            var note = cut ? $"the answer is longer than {_settings.MaxResponseBytes:N0} bytes: the rest was not read" : null;
            if (response.IsSuccessStatusCode) return new AttemptOutcome(AttemptOutcome.Succeeded, code, watch.ElapsedMilliseconds, note, text);
            var error = code is >= 300 and < 400
                ? $"answered {code} (redirect to {response.Headers.Location?.ToString() ?? "nowhere"}): redirects are not followed"
                : $"answered {code} {response.ReasonPhrase}";
            return new AttemptOutcome(AttemptOutcome.Failed, code, watch.ElapsedMilliseconds, note is null ? error : $"{error}; {note}", text);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new AttemptOutcome(AttemptOutcome.Failed, code, watch.ElapsedMilliseconds, $"no complete answer within {_settings.TimeoutSeconds:0.###} s", null);
        }
        catch (HttpRequestException e) when (Refusal(e) is { } refusal)
        {
            return new AttemptOutcome(AttemptOutcome.Refused, null, watch.ElapsedMilliseconds, refusal.Message, null);
        }
        catch (HttpRequestException e)
        {
            return new AttemptOutcome(AttemptOutcome.Failed, code, watch.ElapsedMilliseconds, Describe(e), null);
        }
        catch (IOException e)
        {
            return new AttemptOutcome(AttemptOutcome.Failed, code, watch.ElapsedMilliseconds, Describe(e), null);
        }
    }

    static WebhookRefusedException? Refusal(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is WebhookRefusedException r) return r;
        return null;
    }

    static string Describe(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (parts.Count == 0 || !parts[^1].Contains(x.Message, StringComparison.Ordinal)) parts.Add(x.Message);
        return string.Join(": ", parts);
    }

    /// <summary>At most <see cref="WebhookSettings.MaxResponseBytes"/> of the body, and whether there was more (then the connection is dropped unread).</summary>
    async Task<(string? Text, bool Cut)> ReadCappedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[_settings.MaxResponseBytes + 1];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), ct);
            if (n == 0) break;
            read += n;
        }
        var cut = read > _settings.MaxResponseBytes;
        if (cut) read = _settings.MaxResponseBytes;
        if (read == 0) return (null, cut);
        var text = Encoding.UTF8.GetString(buffer, 0, read);
        return (text.Length > KeptResponseChars ? text[..KeptResponseChars] : text, cut);
    }

    public void Dispose() => _http.Dispose();
}
