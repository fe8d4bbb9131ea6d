using System.Net;
using System.Net.Sockets;

namespace Billing.Host.Features.Webhooks;

/// <summary>
/// Which addresses a webhook may reach (no SSRF): none that is loopback, private, link-local,
/// shared, reserved, documentation, multicast or unspecified, in IPv4 or IPv6, nor an IPv6 address
/// that embeds such an IPv4 one (IPv4-mapped, NAT64, 6to4). Pure: the same rules judge a URL when an
/// endpoint is created and every address a name resolves to when a delivery connects.
/// </summary>
public static class WebhookAddresses
{
    static readonly (IPNetwork Network, string Kind)[] RefusedV4 =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "\"this network\" address"),
        (IPNetwork.Parse("10.0.0.0/8"), "private address"),
        (IPNetwork.Parse("100.64.0.0/10"), "shared (carrier-grade NAT) address"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback address"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local address (cloud metadata lives here)"),
        (IPNetwork.Parse("172.16.0.0/12"), "private address"),
        (IPNetwork.Parse("192.0.0.0/24"), "IETF protocol address"),
        (IPNetwork.Parse("192.0.2.0/24"), "documentation address"),
        (IPNetwork.Parse("192.88.99.0/24"), "6to4 relay address"),
        (IPNetwork.Parse("192.168.0.0/16"), "private address"),
        (IPNetwork.Parse("198.18.0.0/15"), "benchmarking address"),
        (IPNetwork.Parse("198.51.100.0/24"), "documentation address"),
        (IPNetwork.Parse("203.0.113.0/24"), "documentation address"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast address"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved or broadcast address"),
    ];

    static readonly (IPNetwork Network, string Kind)[] RefusedV6 =
    [
        (IPNetwork.Parse("::/96"), "unspecified, loopback or IPv4-compatible address"),
        (IPNetwork.Parse("64:ff9b:1::/48"), "local-use NAT64 address"),
        (IPNetwork.Parse("100::/64"), "discard-only address"),
        (IPNetwork.Parse("2001::/23"), "IETF protocol address (Teredo, benchmarking, ORCHID)"),
        (IPNetwork.Parse("2001:db8::/32"), "documentation address"),
        (IPNetwork.Parse("fc00::/7"), "unique local (private) address"),
        (IPNetwork.Parse("fe80::/10"), "link-local address"),
        (IPNetwork.Parse("fec0::/10"), "site-local address"),
        (IPNetwork.Parse("ff00::/8"), "multicast address"),
    ];

    static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    /// <summary>Why a webhook may not connect to <paramref name="address"/>, or null when it may.</summary>
    public static string? Refusal(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return RefusedV4.FirstOrDefault(r => r.Network.Contains(address)) is { Kind: { } kind } v4 ? $"{address} is a {kind} ({v4.Network})" : null;
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return $"{address} is not an IP address";
        // Scope ids (fe80::1%2) are no part of the rules: the prefix decides.
        var bare = new IPAddress(address.GetAddressBytes());
        if (bare.IsIPv4MappedToIPv6) return Embedded(bare, bare.MapToIPv4(), "IPv4-mapped");
        if (Nat64.Contains(bare)) return Embedded(bare, new IPAddress(bare.GetAddressBytes()[12..]), "NAT64");
        if (SixToFour.Contains(bare)) return Embedded(bare, new IPAddress(bare.GetAddressBytes()[2..6]), "6to4");
        return RefusedV6.FirstOrDefault(r => r.Network.Contains(bare)) is { Kind: { } kind6 } v6 ? $"{bare} is a {kind6} ({v6.Network})" : null;
    }

    static string? Embedded(IPAddress v6, IPAddress v4, string how) =>
        Refusal(v4) is { } inner ? $"{v6} is {how} for {inner}" : null;

    /// <summary>
    /// Why <paramref name="url"/> can never be a webhook's URL, judged without the network: not an
    /// absolute http or https URL, credentials in it, or a literal address the rules refuse (unless
    /// <paramref name="allowPrivate"/>). A name is judged by what it resolves to, see <see cref="RefuseResolved"/>.
    /// </summary>
    public static string? RefuseUrl(string url, bool allowPrivate, out Uri? uri)
    {
        uri = null;
        // Without a scheme, .NET on Linux reads "/path" as a file URI: such text is no absolute URL here.
        if (!url.Contains(':', StringComparison.Ordinal) || !Uri.TryCreate(url, UriKind.Absolute, out var parsed))
            return $"'{url}' is not an absolute URL (write it as https://host/path)";
        if (parsed.Scheme != Uri.UriSchemeHttps && parsed.Scheme != Uri.UriSchemeHttp)
            return $"a webhook's URL is http or https, not {parsed.Scheme}";
        if (string.IsNullOrEmpty(parsed.Host))
            return $"'{url}' names no host (write it as https://host/path)";
        if (parsed.UserInfo.Length > 0)
            return "a webhook's URL carries no user or password: the receiver checks the signature instead";
        if (!allowPrivate && IPAddress.TryParse(parsed.DnsSafeHost, out var literal) && Refusal(literal) is { } refused)
            return $"{refused}; webhooks reach only public addresses (BILLING_WEBHOOK_ALLOW_PRIVATE=1 allows private ones)";
        uri = parsed;
        return null;
    }

    /// <summary>Why the addresses <paramref name="host"/> resolved to may not be reached: any refused address refuses the name (DNS rebinding answers with both).</summary>
    public static string? RefuseResolved(string host, IReadOnlyList<IPAddress> addresses)
    {
        if (addresses.Count == 0) return $"{host} resolves to no address";
        return addresses.Select(Refusal).FirstOrDefault(r => r is not null) is { } refused
            ? (IPAddress.TryParse(host, out _) ? refused : $"{host} resolves to {refused}") + "; webhooks reach only public addresses (BILLING_WEBHOOK_ALLOW_PRIVATE=1 allows private ones)"
            : null;
    }
}
