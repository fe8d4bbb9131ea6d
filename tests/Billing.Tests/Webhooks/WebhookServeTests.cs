using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Billing.Host.Features;
using Billing.Host.Features.Webhooks;
using Billing.Metering;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;
using Npgsql;
using RabbitMQ.Client;
using Xunit.Abstractions;

namespace Billing.Tests.Webhooks;

/// <summary>
/// Webhooks end to end with the real executables: last month's usage imported through the broker
/// by `billing import`, endpoints made by `billing webhooks create`, a real `billing serve` that
/// delivers (killed with SIGKILL while a retry waits, and another started), a month closed by
/// `billing close`, a real receiver on loopback (so
/// BILLING_WEBHOOK_ALLOW_PRIVATE=1) and every signature checked by Python's hmac. The children read
/// the machine's clock, so the month is last month by that clock.
/// </summary>
public sealed class WebhookServeTests(ITestOutputHelper output)
{
    static readonly BillingPeriod Month = BillingPeriod.Of(NodaTime.SystemClock.Instance.GetCurrentInstant()).Previous;
    static readonly TimeSpan Bound = TimeSpan.FromMinutes(3);
    /// <summary>Long enough for the node that got the 500 to be killed and another to start before the retry is due.</summary>
    const int RetrySeconds = 10;

    [Fact(Timeout = 600_000)]
    public async Task Serve_delivers_a_close_signed_scoped_retried_replayed_and_on_the_exchange()
    {
        var db = await PostgresServer.CreateDatabaseAsync("billing_webhooks");
        var amqp = await RabbitMqBroker.CreateVirtualHostAsync("webhooks");
        var dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");
        var env = new Dictionary<string, string>
        {
            ["BILLING_RABBITMQ"] = amqp,
            ["BILLING_WEBHOOK_ALLOW_PRIVATE"] = "1",
            ["BILLING_WEBHOOK_RETRY_SECONDS"] = $"{RetrySeconds}",
        };
        var file = Path.Combine(Path.GetTempPath(), $"billing-webhooks-{Guid.NewGuid():N}.jsonl");
        new SyntheticUsage(Month, accounts: 3, seed: 25, recordsPerHour: 1).WriteJsonLines(file);
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Answer("/flaky", (n, ctx) => { ctx.Response.StatusCode = n == 0 ? 500 : 200; return Task.CompletedTask; });
        try
        {
            await RunAsync(dll, db, env, "import", file);
        }
        finally
        {
            File.Delete(file);
        }
        var account = await ScalarTextAsync(db, "select min(id) from billing.mt_doc_accountprofile");
        var all = ParseCreated(await RunAsync(dll, db, env, "webhooks", "create", "--url", receiver.Url("/all"), "--events", "invoice.issued,invoice.pdf_ready"));
        var scoped = ParseCreated(await RunAsync(dll, db, env, "webhooks", "create", "--url", receiver.Url("/account"), "--account", account));
        var flaky = ParseCreated(await RunAsync(dll, db, env, "webhooks", "create", "--url", receiver.Url("/flaky"), "--events", "invoice.issued"));
        Assert.Contains($"{all.Id}  all", await RunAsync(dll, db, env, "webhooks", "list"), StringComparison.Ordinal);

        var port = Ports.Free();
        var serveEnv = new Dictionary<string, string>(env) { ["BILLING_URLS"] = $"http://127.0.0.1:{port}" };
        await using var first = ChildProcess.Start(dll, db, serveEnv, "serve");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await Eventually.UntilAsync(async () => !first.HasExited && await LiveAsync(http, port), Bound, "serve answering /health/live", details: () => ChildProcess.Tail(first.StandardError));

        // A consumer's queue on the exchange, bound by one type: it must receive exactly that type.
        var factory = new ConnectionFactory { Uri = new Uri(amqp) };
        await using var connection = await factory.CreateConnectionAsync("test-webhooks-consumer");
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync(WebhookWiring.Exchange, ExchangeType.Topic, durable: true);
        var queue = (await channel.QueueDeclareAsync("test-invoice-issued", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await channel.QueueBindAsync(queue, WebhookWiring.Exchange, "invoice.issued");

        var closed = await RunAsync(dll, db, env, "close", "--period", Month.ToString());
        output.WriteLine(closed.Trim());
        var invoices = await InvoicesAsync(db);
        Assert.True(invoices.Count >= 2, $"the close issued {invoices.Count} invoices");
        var numbers = invoices.Keys.Order(StringComparer.Ordinal).ToList();
        var ofAccount = invoices.Where(i => i.Value.AccountId == account).Select(i => i.Key).ToList();
        Assert.Single(ofAccount);

        // Every first attempt made and logged (one answered 500): then the node is killed, its retry scheduled and not yet due.
        var firstAttempts = 2 * numbers.Count + 2 + numbers.Count;
        await Eventually.UntilAsync(async () => await CountAsync(db, "select count(*) from billing.mt_doc_webhookdelivery, jsonb_array_elements(data->'attempts')") >= firstAttempts,
            Bound, $"{firstAttempts} first attempts logged", details: () => $"received {string.Join(", ", receiver.All.Select(r => $"{r.Path} {r.Type}"))}\nserve:\n{ChildProcess.Tail(first.StandardError)}");
        first.KillNow();
        var killedAt = DateTime.UtcNow;
        Assert.True(receiver.At("/flaky").Count == numbers.Count, $"the retry came before the kill, {(killedAt - receiver.At("/flaky")[0].ReceivedAt).TotalSeconds:0.0} s after the 500");
        // The retry waits in the message store, owned by no node, so any node makes it when it is due.
        Assert.Equal(1, await CountAsync(db, "select count(*) from billing.wolverine_incoming_envelopes where status = 'Scheduled' and owner_id = 0 and message_type = 'Billing.Host.Features.Webhooks.DeliverWebhook' and received_at = 'postgresql://webhook_deliveries/'"));
        await using var serve = ChildProcess.Start(dll, db, serveEnv, "serve");
        await Eventually.UntilAsync(async () => receiver.At("/all").Count >= 2 * numbers.Count && receiver.At("/account").Count >= 2 && receiver.At("/flaky").Count >= numbers.Count + 1,
            Bound, "every invoice's two events delivered, and the failed one retried by the node started after the kill", details: () => $"received {string.Join(", ", receiver.All.Select(r => $"{r.Path} {r.Type}"))}\nserve:\n{ChildProcess.Tail(serve.StandardError)}");

        // invoice.issued and invoice.pdf_ready for every invoice of the close, each once.
        var atAll = receiver.At("/all");
        Assert.Equal(2 * numbers.Count, atAll.Count);
        Assert.Equal(numbers, atAll.Where(r => r.Type == "invoice.issued").Select(r => r.Data.GetProperty("number").GetString()!).Order(StringComparer.Ordinal).ToList());
        Assert.Equal(numbers, atAll.Where(r => r.Type == "invoice.pdf_ready").Select(r => r.Data.GetProperty("number").GetString()!).Order(StringComparer.Ordinal).ToList());
        foreach (var r in atAll)
        {
            var (accountId, pdfSha) = invoices[r.Data.GetProperty("number").GetString()!];
            Assert.Equal(accountId, r.Data.GetProperty("accountId").GetString());
            Assert.Equal(Month.ToString(), r.Data.GetProperty("period").GetString());
            if (r.Type == "invoice.pdf_ready") Assert.Equal(pdfSha, r.Data.GetProperty("pdfSha256").GetString());
            else Assert.Matches(@"^\d+\.\d\d$", r.Data.GetProperty("total").GetString()!);
        }
        // The account's endpoint receives its account's two events only.
        var atAccount = receiver.At("/account");
        Assert.Equal(["invoice.issued", "invoice.pdf_ready"], atAccount.Select(r => r.Type).Order(StringComparer.Ordinal).ToList());
        Assert.All(atAccount, r => Assert.Equal((account, ofAccount[0]), (r.Data.GetProperty("accountId").GetString(), r.Data.GetProperty("number").GetString())));

        // The first answer was 500: the same webhook-id came again after the backoff, then 200.
        var atFlaky = receiver.At("/flaky");
        Assert.Equal(numbers.Count + 1, atFlaky.Count);
        var retried = atFlaky.GroupBy(r => r.Id).Single(g => g.Count() == 2).OrderBy(r => r.ReceivedAt).ToList();
        Assert.Equal(atFlaky[0].Id, retried[0].Id);
        Assert.Equal(retried[0].Text, retried[1].Text);
        Assert.True(retried[1].ReceivedAt - retried[0].ReceivedAt >= TimeSpan.FromSeconds(RetrySeconds - 0.1), $"retried after {(retried[1].ReceivedAt - retried[0].ReceivedAt).TotalSeconds:0.00} s");
        Assert.True(retried[1].ReceivedAt > killedAt, "the retry is made by the node started after the kill");
        Assert.True(long.Parse(retried[1].Timestamp, System.Globalization.CultureInfo.InvariantCulture) >= long.Parse(retried[0].Timestamp, System.Globalization.CultureInfo.InvariantCulture) + RetrySeconds - 1);

        // Every delivery's signature, checked by Python with each endpoint's secret.
        var secrets = new Dictionary<string, string> { ["/all"] = all.Secret, ["/account"] = scoped.Secret, ["/flaky"] = flaky.Secret };
        var checks = await IndependentSignature.CheckAsync(receiver.All.Select(r => (secrets[r.Path], r)));
        Assert.Equal(receiver.All.Count, checks.Count);
        Assert.All(checks, c => Assert.Equal("ok", c));

        // `webhooks deliveries` lists every attempt of the flaky endpoint's deliveries.
        var listed = JsonDocument.Parse(await RunAsync(dll, db, env, "webhooks", "deliveries", "--endpoint", flaky.Id, "--json")).RootElement.EnumerateArray().ToList();
        Assert.Equal(numbers.Count, listed.Count);
        var twice = Assert.Single(listed, d => d.GetProperty("attempts").GetArrayLength() == 2);
        Assert.Equal((retried[0].Id, "succeeded", "invoice.issued", receiver.Url("/flaky")), (twice.GetProperty("webhookId").GetString(), twice.GetProperty("status").GetString(), twice.GetProperty("type").GetString(), twice.GetProperty("url").GetString()));
        var attempts = twice.GetProperty("attempts").EnumerateArray().ToList();
        Assert.Equal(("event", "failed", 500, "answered 500 Internal Server Error"), (attempts[0].GetProperty("trigger").GetString(), attempts[0].GetProperty("status").GetString(), attempts[0].GetProperty("responseCode").GetInt32(), attempts[0].GetProperty("error").GetString()));
        Assert.Equal(("retry", "succeeded", 200), (attempts[1].GetProperty("trigger").GetString(), attempts[1].GetProperty("status").GetString(), attempts[1].GetProperty("responseCode").GetInt32()));
        Assert.True(attempts[0].GetProperty("durationMs").GetInt64() >= 0);
        var gap = DateTimeOffset.Parse(attempts[1].GetProperty("at").GetString()!, System.Globalization.CultureInfo.InvariantCulture) - DateTimeOffset.Parse(attempts[0].GetProperty("at").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(gap >= TimeSpan.FromSeconds(RetrySeconds), $"the logged attempts are {gap.TotalSeconds:0.000} s apart");
        Assert.All(listed.Where(d => d.GetProperty("attempts").GetArrayLength() == 1), d => Assert.Equal("succeeded", d.GetProperty("status").GetString()));
        var text = await RunAsync(dll, db, env, "webhooks", "deliveries", "--endpoint", flaky.Id);
        Assert.Contains("1.1  event ", text, StringComparison.Ordinal);
        Assert.Contains("1.2  retry ", text, StringComparison.Ordinal);

        // A replay sends the same message again, as run 2, and logs it.
        var deliveryId = twice.GetProperty("id").GetString()!;
        var replayed = await RunAsync(dll, db, env, "webhooks", "replay", "--delivery", deliveryId);
        Assert.StartsWith($"{deliveryId} run 2: succeeded 200", replayed, StringComparison.Ordinal);
        await Eventually.UntilAsync(() => Task.FromResult(receiver.At("/flaky").Count == numbers.Count + 2), Bound, "the replay received");
        var again = receiver.At("/flaky")[^1];
        Assert.Equal((retried[0].Id, retried[0].Text), (again.Id, again.Text));
        Assert.Equal(["ok"], await IndependentSignature.CheckAsync([(flaky.Secret, again)]));
        var afterReplay = JsonDocument.Parse(await RunAsync(dll, db, env, "webhooks", "deliveries", "--endpoint", flaky.Id, "--json")).RootElement.EnumerateArray().Single(d => d.GetProperty("id").GetString() == deliveryId);
        Assert.Equal(2, afterReplay.GetProperty("run").GetInt32());
        var last = afterReplay.GetProperty("attempts").EnumerateArray().Last();
        Assert.Equal((2, 1, "replay", "succeeded"), (last.GetProperty("run").GetInt32(), last.GetProperty("attempt").GetInt32(), last.GetProperty("trigger").GetString(), last.GetProperty("status").GetString()));

        // The exchange: one message per invoice.issued, routed by its type, the webhook's body and id.
        var published = new List<BasicGetResult>();
        await Eventually.UntilAsync(async () =>
        {
            while (await channel.BasicGetAsync(queue, autoAck: true) is { } m) published.Add(m);
            return published.Count >= numbers.Count;
        }, Bound, $"{numbers.Count} invoice.issued on {WebhookWiring.Exchange}", details: () => $"{published.Count} so far");
        Assert.Equal(numbers.Count, published.Count);
        Assert.All(published, m => Assert.Equal(("invoice.issued", WebhookWiring.Exchange), (m.RoutingKey, m.Exchange)));
        var bodies = published.Select(m => Encoding.UTF8.GetString(m.Body.Span)).ToList();
        Assert.Equal(numbers, bodies.Select(b => JsonDocument.Parse(b).RootElement.GetProperty("data").GetProperty("number").GetString()!).Order(StringComparer.Ordinal).ToList());
        Assert.All(bodies, b => Assert.Equal("invoice.issued", JsonDocument.Parse(b).RootElement.GetProperty("type").GetString()));
        var issuedAtAll = atAll.Where(r => r.Type == "invoice.issued").ToDictionary(r => r.Id, r => r.Text);
        foreach (var m in published)
        {
            var id = Encoding.UTF8.GetString((byte[])m.BasicProperties.Headers!["webhook-id"]!);
            Assert.Equal(issuedAtAll[id], Encoding.UTF8.GetString(m.Body.Span));
        }
        Assert.Equal(0, await serve.StopAsync(TimeSpan.FromSeconds(60)));
    }

    static (string Id, string Secret) ParseCreated(string stdout)
    {
        var words = stdout.Trim().Split(' ');
        Assert.Equal(2, words.Length);
        Assert.Matches("^ep_[0-9a-f]{16}$", words[0]);
        Assert.StartsWith("whsec_", words[1], StringComparison.Ordinal);
        return (words[0], words[1]);
    }

    static async Task<string> RunAsync(string dll, string db, IReadOnlyDictionary<string, string> env, params string[] args)
    {
        await using var child = ChildProcess.Start(dll, db, env, args);
        var exit = await child.WaitForExitAsync(Bound);
        Assert.True(exit == 0, $"billing {string.Join(' ', args)} exited {exit}\nstdout:\n{child.StandardOutput}\nstderr:\n{ChildProcess.Tail(child.StandardError)}");
        return child.StandardOutput;
    }

    static async Task<bool> LiveAsync(HttpClient http, int port)
    {
        try
        {
            using var response = await http.GetAsync($"http://127.0.0.1:{port}/health/live");
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    static Task<long> CountAsync(string db, string sql) => DuplicatePublishTests.ScalarAsync(db, sql);

    static async Task<string> ScalarTextAsync(string db, string sql)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>The issued invoices by number: payer and the SHA-256 of the stored PDF (checked against the PDF's bytes).</summary>
    static async Task<Dictionary<string, (string AccountId, string PdfSha256)>> InvoicesAsync(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        var invoices = new Dictionary<string, (string, string)>();
        await using (var cmd = new NpgsqlCommand("select data->>'number', data->>'accountId', data->>'pdfSha256' from billing.mt_doc_issuedinvoice", connection))
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync()) invoices[reader.GetString(0)] = (reader.GetString(1), reader.GetString(2));
        foreach (var (number, (_, sha)) in invoices)
        {
            await using var pdf = new NpgsqlCommand("select pdf from billing.invoice_pdfs where number = @n", connection);
            pdf.Parameters.AddWithValue("n", number);
            Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData((byte[])(await pdf.ExecuteScalarAsync())!)));
        }
        return invoices;
    }
}
