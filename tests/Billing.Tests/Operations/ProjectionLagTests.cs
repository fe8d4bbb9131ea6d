using Billing.Host;
using Billing.Host.Operations;
using Billing.Tests.Support;
using Billing.Metering;
using Marten.Events;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using NodaTime;

namespace Billing.Tests.Operations;

/// <summary>
/// The service's projections are all inline, so its lag is 0 by construction; this store has one
/// asynchronous projection, which the test lets fall behind and then catch up, to show the reading
/// and the threshold on real lag.
/// </summary>
public class ProjectionLagTests
{
    public sealed record Counted(int By);

    public sealed class Tally
    {
        public string Id { get; set; } = "";
        public int Total { get; set; }
        public static Tally Create(Counted e) => new() { Total = e.By };
        public void Apply(Counted e) => Total += e.By;
    }

    [Fact]
    public async Task Lag_counts_the_events_an_async_projection_has_not_applied_and_crosses_the_threshold_until_it_catches_up()
    {
        var connectionString = await PostgresServer.CreateDatabaseAsync("billing_lag");
        using var store = DocumentStore.For(opts =>
        {
            opts.Connection(connectionString);
            opts.DatabaseSchemaName = "billing";
            opts.Events.StreamIdentity = StreamIdentity.AsString;
            opts.Projections.Snapshot<Tally>(SnapshotLifecycle.Async);
        });
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await using (var session = store.LightweightSession())
        {
            session.Events.StartStream("tally-1", new Counted(1), new Counted(2), new Counted(3));
            await session.SaveChangesAsync();
        }

        await using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var settings = BillingSettings.FromEnvironment() with { ConnectionString = connectionString, ReadyMaxLagSeconds = 0 };
        var reader = new ReadinessReader(store, settings, new TestClock(BillingTestHost.DefaultNow), new BillingMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        var behind = await reader.ReadLagAsync(CancellationToken.None);
        Assert.Equal((3L, 1), (behind.Events, behind.AsyncShards));
        Assert.True(behind.Seconds > 0, $"{behind.Seconds} s");

        var check = await new ProjectionsCheck(reader, settings).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, check.Status);
        Assert.StartsWith("projection lag ", check.Description);
        Assert.EndsWith(" s (3 events) exceeds BILLING_READY_MAX_LAG_SECONDS=0", check.Description);
        Assert.Equal(3L, check.Data["lagEvents"]);

        using var daemon = await store.BuildProjectionDaemonAsync();
        await daemon.StartAllAsync();
        await store.WaitForProjectionsAsync(TimeSpan.FromSeconds(30));
        await daemon.StopAllAsync();
        var caughtUp = await reader.ReadLagAsync(CancellationToken.None);
        Assert.Equal((0L, 0d), (caughtUp.Events, caughtUp.Seconds));
        Assert.Equal(6, (await store.QuerySession().LoadAsync<Tally>("tally-1"))!.Total);
        Assert.Equal(HealthStatus.Healthy, (await new ProjectionsCheck(reader, settings).CheckHealthAsync(new HealthCheckContext())).Status);
    }
}
