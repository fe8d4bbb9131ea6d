using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Billing.Host.Operations;

/// <summary>The broker's queues as readiness reads them: how many messages are ready in each, by a passive declare (which creates nothing).</summary>
public static class BrokerQueues
{
    /// <summary>Where Wolverine's RabbitMQ listeners park a message (native dead-lettering, the transport's default).</summary>
    public const string DeadLetterQueue = "wolverine-dead-letter-queue";

    public static ConnectionFactory Factory(string uri, string name) =>
        new() { Uri = new Uri(uri), RequestedConnectionTimeout = TimeSpan.FromSeconds(3), ClientProvidedName = name };

    /// <summary>
    /// The ready messages of each queue that exists (a passive declare of one that does not closes its
    /// channel with 404; the queue is left out). Unacknowledged deliveries, in a listener's hands, are not counted.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, long>> DepthsAsync(string uri, IReadOnlyList<string> queues, CancellationToken ct)
    {
        await using var connection = await Factory(uri, "billing readiness").CreateConnectionAsync(ct);
        var depths = new Dictionary<string, long>(StringComparer.Ordinal);
        IChannel? channel = null;
        try
        {
            foreach (var queue in queues)
            {
                channel ??= await connection.CreateChannelAsync(cancellationToken: ct);
                try
                {
                    depths[queue] = (await channel.QueueDeclarePassiveAsync(queue, ct)).MessageCount;
                }
                catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
                {
                    await channel.DisposeAsync();
                    channel = null;
                }
            }
        }
        finally
        {
            if (channel is not null) await channel.DisposeAsync();
            await connection.CloseAsync(ct);
        }
        return depths;
    }
}
