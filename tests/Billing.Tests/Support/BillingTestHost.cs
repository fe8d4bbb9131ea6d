using System.Text.Json.Nodes;
using Billing.Host;
using Billing.Host.Features;
using Billing.Metering;
using Marten;
using Marten.Events;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;

namespace Billing.Tests.Support;

/// <summary>
/// The real service in-process: Kestrel on a free loopback port, Wolverine with its PostgreSQL
/// queue, Marten with the async daemon, on a database of the test's own. Time is a
/// <see cref="TestClock"/>; retries are quick. Traced as production is with a collector: every host
/// exports its spans of Marten, Wolverine, Npgsql and ASP.NET Core to the shared <see cref="OtlpReceiver"/>,
/// so no path can work only untraced.
/// </summary>
public sealed class BillingTestHost : IAsyncDisposable
{
    public static readonly Instant DefaultNow = Instant.FromUtc(2026, 11, 1, 0, 0);

    public required WebApplication App { get; init; }
    public required BillingSettings Settings { get; init; }
    public required TestClock Clock { get; init; }
    public required HttpClient Http { get; init; }
    public IServiceProvider Services => App.Services;
    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();

    /// <param name="operatorKey">whether <see cref="Http"/> gets an operator's key; without one the host has no key at all, as on a new database</param>
    public static async Task<BillingTestHost> StartAsync(string? connectionString = null, Func<BillingSettings, BillingSettings>? configure = null, Instant? now = null, bool operatorKey = true)
    {
        connectionString ??= await PostgresServer.CreateDatabaseAsync("billing_test");
        var otlp = await OtlpReceiver.Shared;
        var settings = BillingSettings.FromEnvironment() with
        {
            ConnectionString = connectionString,
            OtlpEndpoint = otlp.Endpoint,
            OtlpProtocol = "http/protobuf",
            Urls = "http://127.0.0.1:0",
            RetryDelay = TimeSpan.FromMilliseconds(300),
            RetryWindow = Duration.FromMinutes(10),
            // Suites post many batches back to back; the rate limit's own tests set theirs.
            PostsPerSecond = 100_000,
            PostBurst = 100_000,
        };
        if (configure is not null) settings = configure(settings);
        var clock = new TestClock(now ?? DefaultNow);
        var app = Cli.BuildWebApp([], settings, clock);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var host = new BillingTestHost { App = app, Settings = settings, Clock = clock, Http = new HttpClient { BaseAddress = new Uri(address) } };
        // The suite's client is an operator's, which may call every route; the attack corpus makes its own keys.
        if (operatorKey) host.Http.DefaultRequestHeaders.Authorization = new("Bearer", (await host.CreateKeyAsync("operator", name: "test-operator")).Token);
        return host;
    }

    /// <summary>A new API key in the host's database, created as `billing keys create` does.</summary>
    public Task<(Billing.Host.Access.ApiKey Key, string Token)> CreateKeyAsync(string role, string? account = null, string? name = null) =>
        Keys.CreateAsync(Services, role, account, name ?? $"test-{role}", Billing.Host.Access.Actor.Cli("test"), CancellationToken.None);

    /// <summary>Who caused each event (Marten's user_name) of the streams whose key is like the pattern, in order.</summary>
    public async Task<List<string?>> EventUserNamesAsync(string streamKeyLike)
    {
        await using var connection = new Npgsql.NpgsqlConnection(Settings.ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("select user_name from billing.mt_events where stream_id like @s order by seq_id", connection);
        cmd.Parameters.AddWithValue("s", streamKeyLike);
        var names = new List<string?>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) names.Add(reader.IsDBNull(0) ? null : reader.GetString(0));
        return names;
    }

    /// <summary>Every key stored in the host's database.</summary>
    public async Task<IReadOnlyList<Billing.Host.Access.ApiKey>> KeysAsync()
    {
        await using var session = Store.QuerySession();
        return await session.Query<Billing.Host.Access.ApiKey>().ToListAsync();
    }

    /// <summary>A client of the host that sends <paramref name="token"/> (none when null).</summary>
    public HttpClient ClientWith(string? token)
    {
        var client = new HttpClient { BaseAddress = Http.BaseAddress };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return client;
    }

    /// <summary>Publishes the lines through the bus exactly as `billing import` does and waits for every decision and the projections.</summary>
    public async Task<ImportUsage.Result> ImportAsync(IEnumerable<string> lines, int batchSize = ImportUsage.BatchSize)
    {
        var file = Path.Combine(Path.GetTempPath(), $"billing-test-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllLinesAsync(file, lines);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            return await ImportUsage.ImportAsync(Services, file, batchSize, timeout.Token);
        }
        finally
        {
            File.Delete(file);
        }
    }

    public async Task<AccountUsage> UsageAsync(string accountId, string period)
    {
        await Store.WaitForProjectionsAsync(TimeSpan.FromMinutes(2));
        await using var session = Store.QuerySession();
        return await UsageQueries.ForAccountAsync(session, accountId, BillingPeriod.Parse(period), Settings.LateWindow);
    }

    public async Task<string> UsageJsonAsync(string accountId, string period) =>
        QueryUsage.ToJson(await UsageAsync(accountId, period)).ToJsonString();

    public async Task<Dictionary<string, string>> AllUsageJsonAsync(string period)
    {
        await Store.WaitForProjectionsAsync(TimeSpan.FromMinutes(2));
        await using var session = Store.QuerySession();
        var usage = await UsageQueries.ForPeriodAsync(session, BillingPeriod.Parse(period), Settings.LateWindow);
        return usage.ToDictionary(kv => kv.Key, kv => QueryUsage.ToJson(kv.Value).ToJsonString());
    }

    /// <summary>Every issued invoice in the host's database, by number.</summary>
    public async Task<List<Billing.Invoicing.Issuing.IssuedInvoice>> InvoicesAsync()
    {
        await using var session = Store.QuerySession();
        return (await session.Query<Billing.Invoicing.Issuing.IssuedInvoice>().ToListAsync()).OrderBy(i => i.Number, StringComparer.Ordinal).ToList();
    }

    /// <summary>One number from the host's database (a count, a counter), read with plain SQL.</summary>
    public async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(Settings.ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
