using Billing.Events;
using JasperFx.Events;
using Marten.Events.Projections;

namespace Billing.Metering;

/// <summary>
/// Sums each <see cref="TrafficRecorded"/> batch into the traffic documents of the endpoint's
/// periods. A batch can straddle a day end, so one event may feed two documents; Evolve is
/// given the document id, which says which period's records to add.
/// </summary>
public partial class EndpointTrafficProjection : MultiStreamProjection<EndpointTrafficDay, string>
{
    public EndpointTrafficProjection()
    {
        Identities<TrafficRecorded>(e => Grouped(e).Select(g => g.Key).ToList());
    }

    // A batch feeds hundreds of documents; group its records once per event, not once per document.
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<TrafficRecorded, ILookup<string, TrafficProcessed>> Groups = new();

    static ILookup<string, TrafficProcessed> Grouped(TrafficRecorded e) => Groups.GetValue(e, EndpointTrafficDay.ByDocument);

    public override EndpointTrafficDay? Evolve(EndpointTrafficDay? day, string id, IEvent e)
    {
        if (e.Data is not TrafficRecorded traffic) return day;
        day ??= new EndpointTrafficDay { Id = id };
        day.Add(Grouped(traffic)[id], e.Sequence);
        return day;
    }
}
