using Microsoft.Extensions.Logging;
using Wolverine.Runtime;
using Wolverine.Runtime.Agents;

namespace Billing.Host;

/// <summary>
/// Gives a node that is live again its even share of the ingest partitions.
/// <para>
/// Wolverine 6.62's leader spreads the partitions' exclusive listeners with
/// <see cref="AssignmentGrid.DistributeEvenly(string)"/>, which sheds listeners only from a node
/// above ceil(P/N) and places only listeners that nobody runs: it never moves a running listener to
/// a node below floor(P/N). So once a briefly stale node's partitions have gone to the others (four
/// over three nodes: 2+2), the returning node gets none back for as long as it lives, and neither
/// does a node that joins after the others have shared everything out.
/// </para>
/// <para>
/// This agent family runs no agents of its own. On each of the leader's assignment passes it moves
/// listeners from the fullest nodes to each node below floor(P/N) until every node is within one
/// partition of the others. It counts the partitions' listeners only, and acts only on a steady
/// grid: every partition is running on a live node and none is being placed or moved. The receiving node must have been live
/// for <paramref name="settle"/> (a node that flaps, or a CLI verb that joins for a second, is not
/// handed partitions taken from busy nodes), and a move must show in the assignment table, or
/// <paramref name="moveTimeout"/> pass, before the next one.
/// </para>
/// </summary>
public sealed class PartitionRebalancing(TimeSpan settle, TimeSpan moveTimeout, ILogger<PartitionRebalancing> logger, TimeProvider? time = null) : IAgentFamily
{
    /// <summary>The scheme of Wolverine's exclusive listeners (ExclusiveListenerFamily's, internal there): the partitions' sharded queues.</summary>
    public const string ListenerScheme = "wolverine-listener";

    readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>When the leader first saw each node in its grid without a gap (a stale node drops out of the grid, so it starts again).</summary>
    readonly Dictionary<Guid, long> _liveSince = [];

    /// <summary>The moves this leader asked for and has not yet seen running where it sent them.</summary>
    readonly Dictionary<Uri, (Guid Target, long At)> _moving = [];

    public string Scheme => "billing-partition-rebalancing";

    /// <summary>An ingest partition's listener: wolverine-listener://postgresql/usage_partitionN.</summary>
    static bool IsPartition(Uri agent) => agent.AbsolutePath.TrimStart('/').StartsWith(BillingHost.IngestQueue, StringComparison.Ordinal);

    public ValueTask<IReadOnlyList<Uri>> AllKnownAgentsAsync() => ValueTask.FromResult<IReadOnlyList<Uri>>([]);

    public ValueTask<IReadOnlyList<Uri>> SupportedAgentsAsync() => ValueTask.FromResult<IReadOnlyList<Uri>>([]);

    public ValueTask<IAgent> BuildAgentAsync(Uri uri, IWolverineRuntime wolverineRuntime) =>
        throw new InvalidOperationException($"{Scheme} runs no agents; it only moves the ingest partitions' listeners ({uri})");

    /// <summary>Called by the leader alone, one pass at a time (Wolverine serialises its health checks).</summary>
    public ValueTask EvaluateAssignmentsAsync(AssignmentGrid assignments)
    {
        Rebalance(assignments);
        return ValueTask.CompletedTask;
    }

    void Rebalance(AssignmentGrid grid)
    {
        var now = _time.GetTimestamp();
        var live = grid.Nodes.Select(n => n.NodeId).ToHashSet();
        foreach (var gone in _liveSince.Keys.Where(id => !live.Contains(id)).ToList()) _liveSince.Remove(gone);
        foreach (var id in live) _liveSince.TryAdd(id, now);

        // Only the ingest partitions': other exclusive listeners (the budget evaluator's queue) are one per
        // fleet, and counted in a node's share they left a node with the evaluator and no partition.
        var listeners = grid.AvailableAgentsForScheme(ListenerScheme, IsPartition);
        if (listeners.Count == 0) return;
        var byUri = listeners.ToDictionary(a => a.Uri);
        foreach (var (uri, move) in _moving.ToList())
            if (!byUri.TryGetValue(uri, out var agent) || agent.OriginalNode?.NodeId == move.Target || !live.Contains(move.Target)
                || _time.GetElapsedTime(move.At, now) >= moveTimeout)
                _moving.Remove(uri);
        if (_moving.Count > 0) return;

        // The same nodes Wolverine's DistributeEvenly spreads listeners over.
        var nodes = grid.Nodes.Where(n => n.IsAcceptingAgents && !n.IsWarmup).ToList();
        if (nodes.Count < 2) return;
        // A steady grid only: anything unplaced, moving or on a node that takes no work is Wolverine's to settle first.
        if (listeners.Any(a => a.OriginalNode is null || a.AssignedNode != a.OriginalNode || !nodes.Contains(a.OriginalNode))) return;

        var mine = listeners.ToHashSet();
        var counts = nodes.ToDictionary(n => n, n => n.Agents.Count(mine.Contains));
        // No wait for Wolverine to shed from a node above ceil(P/N) first: its ceiling counts every exclusive
        // listener (the budget evaluator's too), so 3+1 partitions over two nodes was even to it and stayed.
        var floor = listeners.Count / nodes.Count;

        var receivers = nodes.Where(n => counts[n] < floor && _time.GetElapsedTime(_liveSince[n.NodeId], now) >= settle)
            .OrderBy(n => counts[n]).ThenBy(n => n.AssignedId).ToList();
        foreach (var receiver in receivers)
            while (counts[receiver] < floor)
            {
                // The fullest node gives one (the leader first, as Wolverine keeps the leader's share small), its last partition by name.
                var donor = nodes.Where(n => counts[n] > floor && n.Agents.Any(a => mine.Contains(a) && !a.IsPinned))
                    .OrderByDescending(n => counts[n]).ThenByDescending(n => n.IsLeader).ThenByDescending(n => n.AssignedId).FirstOrDefault();
                if (donor is null) return;
                var listener = donor.Agents.Where(a => mine.Contains(a) && !a.IsPinned).OrderBy(a => a.Uri.ToString(), StringComparer.Ordinal).Last();
                logger.LogInformation("Moving {Listener} from node {Donor} to node {Receiver}, which holds {Held} of {Partitions} partitions over {Nodes} nodes (even share at least {Floor})",
                    listener.Uri, donor.AssignedId, receiver.AssignedId, counts[receiver], listeners.Count, nodes.Count, floor);
                receiver.Assign(listener);
                counts[donor]--;
                counts[receiver]++;
                _moving[listener.Uri] = (receiver.NodeId, now);
            }
    }
}
