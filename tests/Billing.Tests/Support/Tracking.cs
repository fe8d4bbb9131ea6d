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

/// <summary>
/// Holds a tracked session open until a message matching <paramref name="matches"/> both started and
/// finished executing inside the session. Executions that started before the session are not
/// counted, so the session sees one decided after whatever the test did before starting it.
/// </summary>
public sealed class ExecutedWithin<T>(Func<T, bool> matches, string description) : ITrackedCondition
{
    readonly HashSet<Guid> _started = [];
    volatile bool _done;

    public void Record(EnvelopeRecord record)
    {
        if (record.Envelope is not { Message: T message } envelope || !matches(message)) return;
        lock (_started)
        {
            if (record.MessageEventType == MessageEventType.ExecutionStarted) _started.Add(envelope.Id);
            else if (record.MessageEventType == MessageEventType.ExecutionFinished && _started.Contains(envelope.Id)) _done = true;
        }
    }

    public bool IsCompleted() => _done;

    public override string ToString() => description;
}
