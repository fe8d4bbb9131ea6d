using Billing.Host.Features;
using Wolverine.Tracking;

namespace Billing.Tests.Support;

/// <summary>How the tests wait for the bus: Wolverine tracked sessions over the host's own message activity.</summary>
public static class Tracking
{
    /// <summary>
    /// A tracked session over the PostgreSQL queues too (the close fans out over one), that does not
    /// wait for <see cref="InvoiceIssuedNotice"/>: nothing in the service consumes that queue.
    /// </summary>
    public static TrackedSessionConfiguration TrackBus(this BillingTestHost host, TimeSpan timeout) =>
        host.App.TrackActivity().Timeout(timeout).IncludeExternalTransports().IgnoreMessageType<InvoiceIssuedNotice>();
}
