using System.Net;
using System.Net.Sockets;

namespace Billing.Tests.Support;

/// <summary>
/// A TCP proxy on a loopback port in front of a real server, which a test can switch off (it stops
/// accepting, so new connections are refused, and cuts every open connection) and on again on the
/// same port: PostgreSQL "gone for a moment", with real sockets and real failures.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    readonly string _targetHost;
    readonly int _targetPort;
    readonly object _gate = new();
    readonly List<TcpClient> _open = [];
    TcpListener? _listener;
    Task _accepting = Task.CompletedTask;

    public int Port { get; private set; }

    public TcpProxy(string targetHost, int targetPort)
    {
        (_targetHost, _targetPort) = (targetHost, targetPort);
        SwitchOn();
    }

    /// <summary>How many client connections the proxy is forwarding now.</summary>
    public int OpenConnections { get { lock (_gate) return _open.Count / 2; } }

    public void SwitchOn()
    {
        lock (_gate)
        {
            if (_listener is not null) return;
            var listener = new TcpListener(IPAddress.Loopback, Port);
            listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Start();
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            _listener = listener;
            _accepting = AcceptAsync(listener);
        }
    }

    /// <summary>Stops accepting (connecting is refused from now on) and cuts every connection open through the proxy.</summary>
    public async Task SwitchOffAsync()
    {
        Task accepting;
        lock (_gate)
        {
            if (_listener is null) return;
            _listener.Stop();
            _listener = null;
            accepting = _accepting;
            foreach (var c in _open) Cut(c);
            _open.Clear();
        }
        await accepting;
    }

    async Task AcceptAsync(TcpListener listener)
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return; // switched off
            }
            _ = ForwardAsync(listener, client);
        }
    }

    async Task ForwardAsync(TcpListener listener, TcpClient client)
    {
        var server = new TcpClient();
        try
        {
            await server.ConnectAsync(_targetHost, _targetPort);
        }
        catch (SocketException)
        {
            Cut(client);
            server.Dispose();
            return;
        }
        lock (_gate)
        {
            if (_listener != listener) { Cut(client); Cut(server); return; } // switched off meanwhile
            _open.Add(client);
            _open.Add(server);
        }
        await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        lock (_gate)
        {
            _open.Remove(client);
            _open.Remove(server);
        }
        Cut(client);
        Cut(server);
    }

    static async Task PumpAsync(TcpClient from, TcpClient to)
    {
        try
        {
            await from.GetStream().CopyToAsync(to.GetStream());
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            // cut
        }
    }

    /// <summary>Closes with a reset (linger 0), as a crashed server or a dropped link would.</summary>
    static void Cut(TcpClient c)
    {
        try
        {
            c.Client.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        c.Dispose();
    }

    public async ValueTask DisposeAsync() => await SwitchOffAsync();
}
