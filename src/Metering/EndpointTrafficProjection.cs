using Billing.Events;
using JasperFx.Events;
using Marten.Events.Projections;

namespace Billing.Metering;

/// <summary>
/// Sums each <see cref="TrafficRecorded"/> batch into the traffic documents of the endpoint's
/// periods. A batch can straddle a month end, so one event may feed two documents; Evolve is
/// given the document id, which says which period's records to add.
/// </summary>
public partial class EndpointTrafficProjection : MultiStreamProjection<EndpointTrafficMonth, string>
{
    public EndpointTrafficProjection()
    {
        Identities<TrafficRecorded>(e => EndpointTrafficMonth.IdsOf(e).ToList());
    }

    public override EndpointTrafficMonth? Evolve(EndpointTrafficMonth? month, string id, IEvent e)
    {
        if (e.Data is not TrafficRecorded traffic) return month;
        month ??= new EndpointTrafficMonth { Id = id };
        month.Add(traffic);
        return month;
    }
}
