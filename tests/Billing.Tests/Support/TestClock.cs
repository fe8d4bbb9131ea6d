using NodaTime;

namespace Billing.Tests.Support;

/// <summary>A clock the test sets; thread-safe because the host reads it from handler threads.</summary>
public sealed class TestClock(Instant now) : IClock
{
    long _ticks = now.ToUnixTimeTicks();

    public Instant GetCurrentInstant() => Instant.FromUnixTimeTicks(Interlocked.Read(ref _ticks));
    public void Set(Instant now) => Interlocked.Exchange(ref _ticks, now.ToUnixTimeTicks());
    public void Advance(Duration by) => Interlocked.Add(ref _ticks, by.BclCompatibleTicks);
}
