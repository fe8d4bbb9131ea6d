using System.Diagnostics;
using NodaTime;

namespace Billing.Host;

/// <summary>A clock that starts at a given instant and advances with the wall clock: the benchmark's workload clock.</summary>
public sealed class StartedClock(Instant start) : IClock
{
    readonly Stopwatch _elapsed = Stopwatch.StartNew();
    public Instant GetCurrentInstant() => start + Duration.FromTimeSpan(_elapsed.Elapsed);
}
