using NodaTime;

namespace Billing.Metering.Ingestion;

/// <summary>Ingestion settings: known regions (from the price book), how long a record may
/// wait for an event still in flight before it is dead-lettered, and the late window.</summary>
public sealed record IngestionOptions(IReadOnlySet<string> KnownRegions, Duration RetryWindow, LateWindow LateWindow)
{
    public static readonly Duration DefaultRetryWindow = Duration.FromMinutes(10);

    /// <summary>The start of the oldest period that still accepts traffic at <paramref name="now"/>.</summary>
    public Instant OldestAccepted(Instant now) => LateWindow.OldestOpen(now).Start;
}
