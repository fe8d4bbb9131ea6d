using System.Net;
using Billing.Host;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;

namespace Billing.Tests.Access;

/// <summary>The database's and the broker's credentials come from the environment and are never printed.</summary>
public class CredentialsTests
{
    [Fact]
    public void The_settings_print_without_the_passwords()
    {
        var settings = BillingSettings.FromEnvironment() with
        {
            ConnectionString = "Host=db.internal;Port=5432;Username=billing;Password=pg-s3cret-9f1;Database=billing",
            RabbitMqUri = "amqp://billing:amqp-s3cret-7c2@broker.internal:5672/prod",
        };
        var text = settings.ToString();
        Assert.DoesNotContain("pg-s3cret-9f1", text);
        Assert.DoesNotContain("amqp-s3cret-7c2", text);
        Assert.Contains("Database = Host=db.internal;Port=5432;Database=billing;Username=billing", text);
        Assert.Contains("RabbitMq = amqp://broker.internal:5672/prod", text);
    }

    [Fact]
    public async Task Serve_logging_everything_never_prints_the_database_or_broker_password()
    {
        // The local cluster trusts loopback connections, so a password in the connection string is carried and never checked: any value shows whether it leaks.
        var db = await PostgresServer.CreateDatabaseAsync("billing_creds") + ";Password=pg-s3cret-9f1";
        var amqp = await RabbitMqBroker.CreateVirtualHostAsync("creds");
        var password = new Uri(amqp).UserInfo.Split(':')[1];
        var port = Ports.Free();
        await using var serve = ChildProcess.Start(Path.Combine(AppContext.BaseDirectory, "billing.dll"), db, new Dictionary<string, string>
        {
            ["BILLING_URLS"] = $"http://127.0.0.1:{port}",
            ["BILLING_RABBITMQ"] = amqp,
            ["BILLING_LOG_LEVEL"] = "Trace",
            ["Logging__LogLevel__Default"] = "Trace",
        }, "serve");
        using var http = new HttpClient();
        await Eventually.UntilAsync(async () =>
        {
            try { return (await http.GetAsync($"http://127.0.0.1:{port}/health/ready")).StatusCode == HttpStatusCode.OK; }
            catch (HttpRequestException) { return false; }
        }, TimeSpan.FromMinutes(2), "serve ready on PostgreSQL and RabbitMQ", details: () => ChildProcess.Tail(serve.StandardError));
        // A failing request too: errors are where connection details usually leak.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"http://127.0.0.1:{port}/api/dead-letters")).StatusCode);
        serve.KillNow();

        var output = serve.StandardOutput + serve.StandardError;
        Assert.True(output.Length > 10_000, $"Trace logging wrote only {output.Length} characters");
        Assert.DoesNotContain("pg-s3cret-9f1", output);
        Assert.DoesNotContain(password, output);
    }
}
