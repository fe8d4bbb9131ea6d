using System.Net;
using System.Net.Sockets;

namespace Billing.Tests.Support;

public static class Ports
{
    /// <summary>A loopback TCP port free a moment ago, for a child process to listen on.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
