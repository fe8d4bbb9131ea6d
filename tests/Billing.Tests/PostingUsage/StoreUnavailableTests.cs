using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Tests.Support;
using Npgsql;

namespace Billing.Tests.PostingUsage;

/// <summary>
/// PostgreSQL gone for a moment, with real parts: the service reaches its database through a TCP
/// proxy the test switches off (new connections refused, open ones cut) and on again. While it is
/// off the API answers 503 with Retry-After, so a client knows to send the same request again;
/// once it is back, that retry is accepted and nothing stored before is lost.
/// </summary>
public class StoreUnavailableTests
{
    const string E = "vpce-88888888888888888";
    const string Account = "888899990000";

    [Fact]
    public async Task While_postgresql_is_unreachable_the_api_answers_503_with_retry_after_and_the_retry_lands_once_it_is_back()
    {
        var db = new NpgsqlConnectionStringBuilder(await PostgresServer.CreateDatabaseAsync("billing_outage"));
        await using var proxy = new TcpProxy(db.Host!, db.Port);
        // Short Npgsql timeouts keep the test bounded should a connection attempt hang instead of failing.
        var through = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port, Timeout = 3, CommandTimeout = 10 };
        await using var host = await BillingTestHost.StartAsync(through.ConnectionString);

        var first = "[" + Records.Created("o-1", "2026-10-01T00:00:00Z", E, Account, "us-east-1", "Interface", "use1-az1") + ","
            + Records.Traffic("o-2", "2026-10-01T01:00:00Z", E, "use1-az1", null, 1000) + "]";
        var second = "[" + Records.Traffic("o-3", "2026-10-01T02:00:00Z", E, "use1-az1", null, 20) + "]";

        Assert.Equal((2, 0), Counts(await PostOkAsync(host, first)));

        await proxy.SwitchOffAsync();
        var refused = await host.Http.PostAsync("/api/usage/events", Json(second));
        var text = await refused.Content.ReadAsStringAsync();
        Assert.True(refused.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)refused.StatusCode}: {text}");
        Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter?.Delta);
        Assert.Equal("application/json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal("the usage store (PostgreSQL) is unavailable; retry the same request in 5 seconds (records already stored are answered as duplicates)",
            (string?)JsonNode.Parse(text)!["error"]);

        var query = await host.Http.GetAsync($"/api/usage/{Account}/2026-10");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, query.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(5), query.Headers.RetryAfter?.Delta);

        proxy.SwitchOn();
        // The client's retry: accepted, so the refused request had stored nothing; the first batch is still there.
        Assert.Equal((1, 0), Counts(await PostOkAsync(host, second)));
        Assert.Equal((0, 2), Counts(await PostOkAsync(host, first)));
        var usage = await host.UsageAsync(Account, "2026-10");
        Assert.Equal(1020m, Assert.Single(usage.DataProcessed).Bytes);
    }

    public static TheoryData<string, Exception, bool> Failures => new()
    {
        { "connection failure 08006", Postgres("08006"), true },
        { "cannot connect now 57P03", Postgres("57P03"), true },
        { "admin shutdown 57P01", Postgres("57P01"), true },
        { "crash shutdown 57P02", Postgres("57P02"), true },
        { "too many connections 53300", Postgres("53300"), true },
        { "unique violation 23505", Postgres("23505"), false },
        { "serialization failure 40001 (a real error, though Npgsql calls it transient)", Postgres("40001"), false },
        { "undefined table 42P01", Postgres("42P01"), false },
        { "a cut connection", new NpgsqlException("Exception while reading from stream", new EndOfStreamException()), true },
        { "a refused connection", new NpgsqlException("Failed to connect to 127.0.0.1:1", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionRefused)), true },
        { "a connect timeout", new NpgsqlException("Failed to connect", new TimeoutException()), true },
        { "a bare SocketException", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionReset), true },
        { "wrapped by another library", new InvalidOperationException("command failed", new NpgsqlException("Exception while writing to stream", new IOException())), true },
        { "among an AggregateException's", new AggregateException(new ArgumentException(), new NpgsqlException("x", new IOException())), true },
        { "an NpgsqlException that is not transient", new NpgsqlException("bad connection string"), false },
        { "an unrelated exception", new InvalidOperationException("Cannot transcode invalid UTF-8 JSON text to UTF-16 string."), false },
        // What a handler saw when PostgreSQL restarted under an ingest batch: Marten's wrapper, which Wolverine's OnException<NpgsqlException> did not match.
        { "Marten's command failure holding 57P01", new Marten.Exceptions.MartenCommandException(new NpgsqlCommand("select 1"), Postgres("57P01")), true },
        { "Marten's command failure holding 23505", new Marten.Exceptions.MartenCommandException(new NpgsqlCommand("select 1"), Postgres("23505")), false },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Only_connection_failures_count_as_the_store_being_unavailable(string what, Exception e, bool unavailable) =>
        Assert.True(Billing.Host.StoreUnavailable.Is(e) == unavailable, $"{what}: expected {unavailable}");

    static PostgresException Postgres(string sqlState) => new("message", "FATAL", "FATAL", sqlState);

    static StringContent Json(string body) => new(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    static async Task<JsonNode> PostOkAsync(BillingTestHost host, string body)
    {
        var response = await host.Http.PostAsync("/api/usage/events", Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    static (int Accepted, int Duplicates) Counts(JsonNode answer) => ((int)answer["accepted"]!, (int)answer["duplicates"]!);
}
