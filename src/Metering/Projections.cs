using Marten;
using Marten.Events;

namespace Billing.Metering;

public static class Projections
{
    /// <summary>
    /// Waits until the async projections have caught up with every event appended so far (Marten's
    /// own wait, which refuses to wait on an event store that has no events at all).
    /// </summary>
    public static async Task WaitForProjectionsAsync(this IDocumentStore store, TimeSpan timeout, CancellationToken ct = default)
    {
        var statistics = await store.Advanced.FetchEventStoreStatistics(token: ct);
        if (statistics.EventCount == 0) return;
        await store.WaitForNonStaleProjectionDataAsync(timeout);
    }
}
