using System.Diagnostics;
using Billing.Metering;
using Marten;
using Npgsql;
// A database filled by `billing bench` (its 501st traffic batch is a full one).
var cs = Environment.GetEnvironmentVariable("BILLING_BENCH_CONNECTION") ?? "Host=127.0.0.1;Port=54329;Username=postgres;Database=billing_bench";
string[] ids;
await using (var c = new NpgsqlConnection(cs))
{
    await c.OpenAsync();
    await using var cmd = new NpgsqlCommand("select data->'endpoints' from billing.mt_events where type = 'traffic_recorded' order by seq_id limit 1 offset 500", c);
    ids = System.Text.Json.JsonSerializer.Deserialize<string[]>((string)(await cmd.ExecuteScalarAsync())!)!;
}
Console.WriteLine($"{ids.Length} endpoints in one batch");
foreach (var cached in new[] { false, true })
{
    using var store = DocumentStore.For(o =>
    {
        o.Connection(cs);
        MeteringStore.Configure(o);
        o.AutoCreateSchemaObjects = JasperFx.AutoCreate.None;
        if (cached) o.Events.CacheAggregatesForWriting<EndpointTimeline>(sizeLimit: 100_000);
    });
    for (var round = 0; round < 3; round++)
    {
        var sw = Stopwatch.StartNew();
        await using var session = store.LightweightSession();
        foreach (var id in ids) await session.Events.FetchForWriting<EndpointTimeline>(id);
        Console.WriteLine($"FetchForWriting x{ids.Length}, CacheAggregatesForWriting={cached}, round {round}: {sw.Elapsed.TotalMilliseconds:0} ms");
    }
    if (!cached)
        for (var round = 0; round < 3; round++)
        {
            var sw = Stopwatch.StartNew();
            await using var session = store.LightweightSession();
            var docs = await session.LoadManyAsync<EndpointTimeline>(ids);
            Console.WriteLine($"LoadManyAsync x{ids.Length} (a cold TimelineCache), round {round}: {sw.Elapsed.TotalMilliseconds:0} ms ({docs.Count} docs)");
        }
}
await using (var c = new NpgsqlConnection(cs))
{
    await c.OpenAsync();
    for (var round = 0; round < 3; round++)
    {
        var sw = Stopwatch.StartNew();
        await using var cmd = new NpgsqlCommand("select writer, generation from billing.ingest_writer where id = 0", c);
        await using var r = await cmd.ExecuteReaderAsync(); await r.ReadAsync();
        Console.WriteLine($"warm TimelineCache: the writer row, round {round}: {sw.Elapsed.TotalMilliseconds:0.0} ms");
    }
}
