using System.ComponentModel;
using Billing.Metering;
using Billing.Metering.Ingestion;
using Marten;
using Marten.Events;
using NodaTime;
using Npgsql;
using Spectre.Console.Cli;
using Wolverine;

namespace Billing.Host.Features;

/// <summary>
/// `billing import FILE.jsonl`: publishes a JSON Lines file onto the bus, 1,000 records a message,
/// then waits until every record is decided and the usage projections have caught up, and prints
/// accepted / duplicate / rejected counts.
/// </summary>
public static class ImportUsage
{
    public const int BatchSize = 1_000;

    /// <summary>How many records an import publishes ahead of the decisions at most.</summary>
    public const int MaxAhead = 50_000;

    public sealed record Result(long Records, long Accepted, long Duplicates, long Rejected, TimeSpan Elapsed)
    {
        public double RecordsPerSecond => Records / Math.Max(Elapsed.TotalSeconds, 1e-9);
    }

    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<FILE>"), Description("a JSON Lines file of usage records (one record or an array a line)")]
        public string File { get; init; } = "";

        [CommandOption("--batch <N>"), Description("records a message"), DefaultValue(BatchSize), Positive]
        public int Batch { get; init; } = BatchSize;
    }

    public static async Task<int> RunAsync(IServiceProvider services, Settings args, CancellationToken ct)
    {
        if (!File.Exists(args.File)) throw new CliException($"no such file: {args.File}");
        var result = await ImportAsync(services, args.File, args.Batch, ct);
        Console.WriteLine($"imported {result.Records:N0} records in {result.Elapsed.TotalSeconds:0.0} s ({result.RecordsPerSecond:N0} records/s): " +
                          $"{result.Accepted:N0} accepted, {result.Duplicates:N0} duplicate, {result.Rejected:N0} rejected");
        return 0;
    }

    public static async Task<Result> ImportAsync(IServiceProvider services, string file, int batchSize, CancellationToken ct)
    {
        var expected = 0L;
        foreach (var line in File.ReadLines(file)) if (!string.IsNullOrWhiteSpace(line)) expected++;

        var settings = services.GetRequiredService<BillingSettings>();
        var clock = services.GetRequiredService<IClock>();
        var partitions = services.GetRequiredService<UsagePartitions>();
        var store = services.GetRequiredService<IDocumentStore>();
        var importId = Guid.CreateVersion7();
        await ImportsTable.StartAsync(settings.ConnectionString, importId, expected, ct);

        using var publishing = new CliProgress("publishing", expected);
        using var scope = services.CreateScope();
        var bus = scope.ServiceProvider.GetRequiredService<IMessageContext>();
        // Relayed on every batch into its events and dead letters: the user who ran the import.
        bus.UserName = Access.Actor.CurrentUser.ToString();
        // On the PostgreSQL bus the import routes each line to its ingest partition and sends full
        // batches of one partition; a broker takes bodies of any mix (the `usage` handler splits them).
        var lanes = settings.RabbitMqUri is null ? partitions.Count : 1;
        var batches = Enumerable.Range(0, lanes).Select(_ => new List<string>(batchSize)).ToArray();
        var published = 0L;
        var decided = 0L;
        foreach (var line in File.ReadLines(file))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            var lane = lanes == 1 ? 0 : partitions.Of(UsagePartitions.RoutingKey(line));
            var batch = batches[lane];
            batch.Add(line);
            if (batch.Count < batchSize) continue;
            await PublishAsync(bus, settings, clock, importId, lane, batch);
            published += batch.Count;
            publishing.Report(published);
            batches[lane] = new List<string>(batchSize);
            // Stay at most a window of records ahead of the decisions: the sender holds every
            // message not yet stored, so publishing a whole file at once grew memory with its size.
            while (published - decided > MaxAhead)
            {
                await Task.Delay(50, ct);
                var c = await ImportsTable.CountsAsync(settings.ConnectionString, importId, ct);
                decided = c.Accepted + c.Duplicates + c.Rejected;
            }
        }
        for (var lane = 0; lane < lanes; lane++)
            if (batches[lane].Count > 0) await PublishAsync(bus, settings, clock, importId, lane, batches[lane]);
        publishing.Done(expected);

        var counts = await WaitForDecisionsAsync(settings.ConnectionString, importId, expected, ct);
        Console.Error.WriteLine("waiting for the usage projections to catch up...");
        await store.WaitForProjectionsAsync(TimeSpan.FromMinutes(30));
        return new Result(expected, counts.Accepted, counts.Duplicates, counts.Rejected, publishing.Elapsed);
    }

    /// <summary>
    /// One batch of lines onto the configured bus: an <see cref="IngestBatch"/> of the lines' one
    /// <paramref name="partition"/> (routed by the caller), or, with a broker, bodies of the producers' contract on its queue <c>usage</c> (a JSON
    /// array of the lines; a line that is not one JSON value goes alone, to be rejected with its text).
    /// </summary>
    static async Task PublishAsync(IMessageBus bus, BillingSettings settings, IClock clock, Guid importId, int partition, List<string> lines)
    {
        if (settings.RabbitMqUri is null)
        {
            var now = clock.GetCurrentInstant();
            await bus.PublishAsync(new IngestBatch(importId, lines.Select(l => new IncomingRecord(l, now)).ToList(), partition));
            return;
        }
        var header = new DeliveryOptions().WithHeader(UsageMessage.ImportIdHeader, importId.ToString());
        // Each line encoded once: checked as bytes, then copied into the array body as they are.
        var lookup = lines.Select(l => System.Text.Encoding.UTF8.GetBytes(l)).ToLookup(IsOneJsonValue);
        if (lookup[true].Any())
        {
            using var body = new MemoryStream();
            body.WriteByte((byte)'[');
            foreach (var (line, i) in lookup[true].Select((l, i) => (l, i)))
            {
                if (i > 0) body.WriteByte((byte)',');
                body.Write(line);
            }
            body.WriteByte((byte)']');
            await bus.PublishAsync(new UsageMessage(body.ToArray(), importId), header);
        }
        foreach (var line in lookup[false])
            await bus.PublishAsync(new UsageMessage(line, importId), header);
    }

    static bool IsOneJsonValue(byte[] line)
    {
        var reader = new System.Text.Json.Utf8JsonReader(line);
        try
        {
            if (!reader.Read()) return false;
            reader.Skip();
            return !reader.Read();
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Waits until every record of an import is accepted, a duplicate or rejected, showing progress.</summary>
    public static async Task<(long Accepted, long Duplicates, long Rejected)> WaitForDecisionsAsync(string connectionString, Guid importId, long expected, CancellationToken ct)
    {
        CliProgress? deciding = null;
        try
        {
            while (true)
            {
                var counts = await ImportsTable.CountsAsync(connectionString, importId, ct);
                var decided = counts.Accepted + counts.Duplicates + counts.Rejected;
                // Most records were decided while they were being published: the rate counts only those decided from now on.
                deciding ??= new CliProgress("deciding", expected, doneAtStart: decided);
                deciding.Report(decided, $"accepted {counts.Accepted:N0} duplicate {counts.Duplicates:N0} rejected {counts.Rejected:N0}");
                if (decided >= expected)
                {
                    deciding.Done(expected);
                    return counts;
                }
                await Task.Delay(200, ct);
            }
        }
        finally
        {
            deciding?.Dispose();
        }
    }
}
