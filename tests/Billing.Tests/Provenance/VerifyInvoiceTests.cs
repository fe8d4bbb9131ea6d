using System.Net;
using System.Text.Json.Nodes;
using Billing.Host.Features;
using Billing.Invoicing.Provenance;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Provenance;

/// <summary>
/// Invoices prove themselves on real PostgreSQL: an untouched one verifies, a traffic event altered in
/// the event store is noticed, and a late event after issue shows as an adjustment, pending until the
/// next close and then carried by that close's invoice.
/// </summary>
public class VerifyInvoiceTests
{
    const long GiB = 1L << 30;
    static readonly BillingPeriod October = new(2026, 10), November = new(2026, 11);
    const string A = OctoberScenario.A;

    static async Task<JsonNode> VerifyAsync(BillingTestHost host, string number)
    {
        using var response = await host.Http.GetAsync($"/api/invoices/{number}/verify");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return JsonNode.Parse(body)!;
    }

    static async Task<int> VerifyCommandAsync(BillingTestHost host, string number) =>
        await VerifyInvoice.CommandAsync(host.Services, new VerifyInvoice.Settings { Number = number, Json = true }, CancellationToken.None);

    static async Task ExecuteAsync(BillingTestHost host, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(host.Settings.ConnectionString);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand(sql, connection);
        Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
    }

    [Fact]
    public async Task An_untouched_invoice_verifies_and_one_whose_traffic_event_was_altered_does_not()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 2, 0, 0));
        await host.ImportAsync([.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B)]);
        // A traffic batch of its own, so the test can alter its one record.
        await host.ImportAsync([Records.Traffic("x-1", "2026-10-20T10:00:00Z", OctoberScenario.E2, "euw1-az1", null, GiB)]);
        var invoice = (await CloseCommand.CloseAsync(host.Services, October, CancellationToken.None)).Single(i => i.AccountId == A);

        // The provenance is the invoice JSON's last key; its hash is the hash of the usage the projections give for October.
        var json = JsonNode.Parse(invoice.Json)!;
        Assert.Equal("provenance", json.AsObject().Last().Key);
        var provenance = json["provenance"]!;
        var sequence = (long)provenance["eventSequence"]!;
        // The position is past every usage event the close read and before the invoice's own events.
        Assert.True(await host.ScalarAsync("""select seq_id from billing.mt_events where data->'ids' @> '["x-1"]'::jsonb""") <= sequence);
        Assert.True(await host.ScalarAsync($"select min(seq_id) from billing.mt_events where stream_id = 'invoice/{A}/2026-10'") > sequence);
        Assert.Equal(CanonicalUsage.Sha256(A, [await host.UsageAsync(A, "2026-10")]), (string)provenance["usageSha256"]!);

        var verified = await VerifyAsync(host, invoice.Number);
        Assert.Equal((true, (string)provenance["usageSha256"]!), ((bool)verified["matches"]!, (string)verified["actualUsageSha256"]!));
        Assert.Equal((true, true), ((bool)verified["priceBookMatches"]!, (bool)verified["rulesMatch"]!));
        Assert.Equal("[]", verified["now"]!["differences"]!.ToJsonString());
        Assert.Null((string?)verified["now"]!["pending"]);
        Assert.Equal(0, await VerifyCommandAsync(host, invoice.Number));

        // 1 GiB becomes 2 GiB in the stored event itself.
        await ExecuteAsync(host, """update billing.mt_events set data = jsonb_set(data, '{bytes,0}', '2147483648'::jsonb) where data->'ids' @> '["x-1"]'::jsonb""");
        var tampered = await VerifyAsync(host, invoice.Number);
        Assert.False((bool)tampered["matches"]!);
        Assert.Equal((string)provenance["usageSha256"]!, (string)tampered["expectedUsageSha256"]!);
        Assert.NotEqual((string)tampered["expectedUsageSha256"]!, (string)tampered["actualUsageSha256"]!);
        Assert.StartsWith($"differs: the usage recomputed from the events up to {sequence}", (string)tampered["status"]!);
        Assert.Equal(1, await VerifyCommandAsync(host, invoice.Number));

        // An invoice issued before provenance (its JSON without the key) is still served, and verify says so.
        await ExecuteAsync(host, $$"""update billing.mt_doc_issuedinvoice set data = jsonb_set(data, '{json}', to_jsonb(regexp_replace(data->>'json', ',"provenance":\{[^}]*\}\}$', '}'))) where data->>'number' = '{{invoice.Number}}'""");
        var old = JsonNode.Parse(await host.Http.GetStringAsync($"/api/invoices/{invoice.Number}"))!;
        Assert.Null(old["provenance"]);
        var unproven = await VerifyAsync(host, invoice.Number);
        Assert.Equal(("no provenance (issued before provenance)", (bool?)null), ((string)unproven["status"]!, (bool?)unproven["matches"]));
        Assert.Equal(1, await VerifyCommandAsync(host, invoice.Number));
        await Assert.ThrowsAsync<Billing.Host.CliException>(() => VerifyCommandAsync(host, "INV-2026-000099"));
    }

    [Fact]
    public async Task A_late_event_after_issue_is_pending_until_the_next_close_and_then_carried_by_its_invoice()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 2, 0, 0));
        await host.ImportAsync([.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B)]);
        var october = (await CloseCommand.CloseAsync(host.Services, October, CancellationToken.None)).Single(i => i.AccountId == A);

        // 4 GiB more of A's October traffic, after its invoice.
        host.Clock.Set(Instant.FromUtc(2026, 11, 5, 0, 0));
        await host.ImportAsync([Records.Traffic("late-1", "2026-10-01T11:30:00Z", OctoberScenario.E1, "use1-az1", "use1-az2", 4 * GiB)]);

        var pending = await VerifyAsync(host, october.Number);
        Assert.True((bool)pending["matches"]!); // the invoice is still what the events up to its sequence give
        Assert.Equal(
            """[{"usage":"data-processed","region":"us-east-1","pool":"Interface","priced":"6442450944","now":"10737418240"},{"usage":"cross-az","region":"us-east-1","priced":"8589934592","now":"12884901888"}]""",
            pending["now"]!["differences"]!.ToJsonString());
        Assert.Equal(("not yet invoiced: the next close of 2026-11 carries them", "[]"), ((string)pending["now"]!["pending"]!, pending["now"]!["carriedBy"]!.ToJsonString()));
        Assert.Equal(["data-processing 4.000000000 0.04", "cross-az-out 4.000000000 0.04", "cross-az-in 4.000000000 0.04"],
            pending["now"]!["pendingLines"]!.AsArray().Select(l => $"{l!["of"]} {l["quantity"]} {l["amount"]}"));

        host.Clock.Set(Instant.FromUtc(2026, 12, 2, 0, 0));
        var november = (await CloseCommand.CloseAsync(host.Services, November, CancellationToken.None)).Single(i => i.AccountId == A);
        var carried = await VerifyAsync(host, october.Number);
        Assert.Equal($"[\"{november.Number}\"]", carried["now"]!["carriedBy"]!.ToJsonString());
        Assert.Null((string?)carried["now"]!["pending"]);
        Assert.Equal("[]", carried["now"]!["pendingLines"]!.ToJsonString());

        // November's invoice priced October's recomputed usage too, and that verifies as well.
        var adjusting = await VerifyAsync(host, november.Number);
        Assert.True((bool)adjusting["matches"]!, adjusting.ToJsonString());
        Assert.Equal(CanonicalUsage.Sha256(A, [await host.UsageAsync(A, "2026-10"), await host.UsageAsync(A, "2026-11")]), (string)adjusting["expectedUsageSha256"]!);
        Assert.Equal(0, await VerifyCommandAsync(host, november.Number));
    }
}
