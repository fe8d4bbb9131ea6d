using Billing.Tests.Support;
using Npgsql;
using RabbitMQ.Client;

namespace Billing.Tests.RunningLocally;

/// <summary>
/// A checkout under a folder only root may enter (mktemp -d, /root, a Debian 12 home are 0700): the
/// database and the broker still start, since PostgreSQL and RabbitMQ run as their own users, who
/// cannot reach the checkout's .data; both scripts then keep their node's files under /var/tmp.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PrivateCheckoutTests
{
    const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public async Task The_broker_starts_from_a_0700_folder_and_takes_connections_as_the_billing_user()
    {
        await using var checkout = new ScriptedCheckout(@private: true);
        Assert.Equal(Private, File.GetUnixFileMode(checkout.Parent));
        var port = checkout.BrokerPort;

        var started = await checkout.BrokerAsync("start");
        Assert.True(started.ExitCode == 0, started.StandardError);
        Assert.Contains($"broker: started on 127.0.0.1:{port} (data in /var/tmp/billing-rabbitmq-", started.StandardError);

        var url = await checkout.RequireAsync(checkout.BrokerAsync, "url");
        Assert.StartsWith("amqp://billing:", url);
        await using (var connection = await new ConnectionFactory { Uri = new Uri(url) }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            var queue = await channel.QueueDeclareAsync("private-checkout", durable: false, exclusive: true, autoDelete: true);
            Assert.Equal((uint)0, queue.MessageCount);
        }

        var status = await checkout.BrokerAsync("status");
        Assert.Equal((0, $"broker: running on 127.0.0.1:{port}"), (status.ExitCode, status.StandardOutput.Trim()));
        await checkout.RequireAsync(checkout.BrokerAsync, "stop");
        var stopped = await checkout.BrokerAsync("status");
        Assert.Equal((3, "broker: not running"), (stopped.ExitCode, stopped.StandardOutput.Trim()));
    }

    [Fact]
    public async Task The_database_starts_from_a_0700_folder_and_answers()
    {
        await using var checkout = new ScriptedCheckout(@private: true);
        var started = await checkout.DbAsync("start");
        Assert.True(started.ExitCode == 0, started.StandardError);
        Assert.Contains($"db: started on 127.0.0.1:{checkout.DatabasePort}", started.StandardError);
        await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={checkout.DatabasePort};Username=postgres;Database=postgres");
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand("show data_directory", connection);
        Assert.StartsWith("/var/tmp/billing-pg-", (string)(await cmd.ExecuteScalarAsync())!);
    }
}
