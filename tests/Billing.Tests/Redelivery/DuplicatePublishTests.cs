using System.Diagnostics;
using Billing.Events;
using Billing.Host.Features;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Billing.Tests.Support;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Wolverine;
using Xunit.Abstractions;

namespace Billing.Tests.Redelivery;

/// <summary>
/// Exactly-once under redelivery, in-process: every IngestBatch of a synthetic month is published
/// twice onto the durable "usage" queue. Every record must be accepted once and acknowledged as a
/// duplicate once, and the stored usage, events and invoices must be those of a clean single import.
/// </summary>
[Collection(RedeliveryCollection.Name)]
public class DuplicatePublishTests(ITestOutputHelper output)
{
    static readonly BillingPeriod October = new(2026, 10);

    [Fact(Timeout = 600_000)]
    public async Task Publishing_every_message_twice_gives_the_usage_and_invoices_of_a_single_import()
    {
        var watch = Stopwatch.StartNew();
        var lines = new SyntheticUsage(October, accounts: 5, seed: 3, hoursBetweenTraffic: 3).Records().Select(RecordJson.Serialize).ToList();
        long n = lines.Count;

        // The same month, every message published twice.
        await using var twice = await BillingTestHost.StartAsync();
        var importId = Guid.CreateVersion7();
        await ExecuteAsync(twice.Settings.ConnectionString, "insert into billing.imports (id, expected) values (@id, @expected)",
            ("id", importId), ("expected", 2 * n));
        var messages = 0;
        using (var scope = twice.Services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageBus>();
            foreach (var chunk in lines.Chunk(ImportUsage.BatchSize))
            {
                var records = chunk.Select(l => new IncomingRecord(l, twice.Clock.GetCurrentInstant())).ToList();
                // Two distinct envelopes carrying the same batch: what a producer retrying after a
                // lost acknowledgement, or a redelivery after a crash, puts on the queue.
                await bus.PublishAsync(new IngestBatch(importId, records));
                await bus.PublishAsync(new IngestBatch(importId, records.ToList()));
                messages += 2;
            }
        }
        var (accepted, duplicates, rejected) = await WaitForImportAsync(twice.Settings.ConnectionString, importId, 2 * n, TimeSpan.FromMinutes(5));
        output.WriteLine($"published {messages} messages for {n:N0} records: {accepted:N0} accepted, {duplicates:N0} duplicate, {rejected:N0} rejected");
        Assert.Equal(n, accepted);
        Assert.Equal(n, duplicates);
        Assert.Equal(0, rejected);

        // A clean single import on a fresh database.
        await using var once = await BillingTestHost.StartAsync();
        var single = await once.ImportAsync(lines);
        Assert.Equal((n, 0L, 0L), (single.Accepted, single.Duplicates, single.Rejected));

        var usageTwice = await twice.AllUsageJsonAsync("2026-10");
        var usageOnce = await once.AllUsageJsonAsync("2026-10");
        Assert.NotEmpty(usageOnce);
        Assert.Equal(usageOnce.Keys.Order(), usageTwice.Keys.Order());
        foreach (var (account, json) in usageOnce) Assert.Equal(json, usageTwice[account]);

        // The store holds each fact once: same accepted ids, same lifecycle events, same traffic
        // records (traffic is stored one event per batch, and the two runs batch differently).
        Assert.Equal(n, await ScalarAsync(twice.Settings.ConnectionString, "select count(*) from billing.record_ids"));
        const string lifecycle = "select count(*) from billing.mt_events where type <> 'traffic_recorded'";
        Assert.Equal(await ScalarAsync(once.Settings.ConnectionString, lifecycle), await ScalarAsync(twice.Settings.ConnectionString, lifecycle));
        var trafficOnce = await ScalarAsync(once.Settings.ConnectionString, TrafficRecordsSql);
        Assert.True(trafficOnce > 0, "the month has traffic");
        Assert.Equal(trafficOnce, await ScalarAsync(twice.Settings.ConnectionString, TrafficRecordsSql));

        // Same clock (TestClock default) on both: the invoices must be identical, numbers and totals included.
        var closedTwice = await CloseCommand.CloseAsync(twice.Services, October, CancellationToken.None);
        var closedOnce = await CloseCommand.CloseAsync(once.Services, October, CancellationToken.None);
        Assert.NotEmpty(closedOnce);
        Assert.Equal(closedOnce.Count, closedTwice.Count);
        string invoicesTwice, invoicesOnce;
        await using (var s = twice.Store.QuerySession()) invoicesTwice = await QueryInvoices.ListJsonAsync(s, October, CancellationToken.None);
        await using (var s = once.Store.QuerySession()) invoicesOnce = await QueryInvoices.ListJsonAsync(s, October, CancellationToken.None);
        // Invoice numbers are taken in the order the IssueInvoice messages happen to be handled
        // (two in parallel), so which account gets which number is not reproducible from one
        // database to another even without any redelivery: compare each account's invoice with the
        // number set aside, and the numbers as a set (gapless from 000001 on both).
        var byAccountTwice = ByAccount(invoicesTwice);
        var byAccountOnce = ByAccount(invoicesOnce);
        Assert.Equal(byAccountOnce.Keys.Order(), byAccountTwice.Keys.Order());
        foreach (var (account, (_, content)) in byAccountOnce) Assert.Equal(content, byAccountTwice[account].Content);
        Assert.Equal(byAccountOnce.Values.Select(v => v.Number).Order(), byAccountTwice.Values.Select(v => v.Number).Order());
        var sameNumbers = byAccountOnce.All(kv => byAccountTwice[kv.Key].Number == kv.Value.Number);
        output.WriteLine($"invoice JSON byte-identical: {(invoicesOnce == invoicesTwice ? "yes" : "no")}; same number for every account: {(sameNumbers ? "yes" : "no")}; " +
                         $"identical apart from the number: yes (totals {string.Join(", ", closedOnce.OrderBy(i => i.AccountId).Select(i => i.Total))})");
        output.WriteLine($"usage of {usageOnce.Count} accounts and {closedOnce.Count} invoices identical to a single import; {watch.Elapsed.TotalSeconds:0.0} s");
    }

    static Dictionary<string, (string Number, string Content)> ByAccount(string invoicesJson) =>
        System.Text.Json.Nodes.JsonNode.Parse(invoicesJson)!.AsArray().Select(i => i!.AsObject()).ToDictionary(
            i => (string)i["accountId"]!,
            i =>
            {
                var number = (string)i["number"]!;
                var copy = (System.Text.Json.Nodes.JsonObject)i.DeepClone();
                copy.Remove("number");
                // The store's position differs (duplicates land in batches of their own); the usage it priced, hashed, must not.
                copy["provenance"]!.AsObject().Remove("eventSequence");
                return (number, copy.ToJsonString());
            });

    internal static Task<(long Accepted, long Duplicates, long Rejected)> WaitForImportAsync(string connectionString, Guid importId, long expected, TimeSpan timeout) =>
        Eventually.UntilAsync(() => Billing.Metering.Ingestion.ImportsTable.CountsAsync(connectionString, importId, CancellationToken.None),
            counts => counts.Accepted + counts.Duplicates + counts.Rejected >= expected, timeout,
            $"import {importId}: {expected} records decided", TimeSpan.FromMilliseconds(200), counts => $"decided so far {counts}");

    internal static async Task ExecuteAsync(string connectionString, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>How many traffic records the event store holds (a traffic event stores its records as columns; "ids" has one per record).</summary>
    public const string TrafficRecordsSql = "select coalesce(sum(jsonb_array_length(data->'ids')), 0) from billing.mt_events where type = 'traffic_recorded'";

    internal static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }
}

/// <summary>The redelivery tests run one after another: the kill -9 test measures timing on a 2-core machine.</summary>
[CollectionDefinition(Name)]
public class RedeliveryCollection
{
    public const string Name = "Redelivery";
}
