using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Billing.Tests.Redelivery;
using Billing.Tests.Support;

namespace Billing.Tests.Access;

/// <summary>`billing keys create | list | revoke` and `serve` on a database without keys, as real processes.</summary>
public class KeysCommandTests
{
    static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "billing.dll");

    static async Task<(int Exit, string Out, string Err)> RunAsync(string db, params string[] args)
    {
        await using var child = ChildProcess.Start(Dll, db, args);
        var exit = await child.WaitForExitAsync(TimeSpan.FromMinutes(2));
        return (exit, child.StandardOutput, child.StandardError);
    }

    [Fact]
    public async Task Keys_are_created_listed_and_revoked_by_whoever_runs_the_command()
    {
        var db = await PostgresServer.CreateDatabaseAsync("billing_keys");
        var created = await RunAsync(db, "keys", "create", "--role", "account", "--account", "111122223333", "--name", "acme-portal");
        Assert.True(created.Exit == 0, created.Err);
        // The token alone on stdout, so `KEY=$(billing keys create ...)` captures it; the rest on stderr.
        var token = created.Out.TrimEnd('\n');
        Assert.Matches(new Regex("^bk_[0-9a-f]{12}\\.[A-Za-z0-9_-]{43}$"), token);
        var id = token[3..15];
        Assert.Contains($"billing: created account key {id} 'acme-portal' for account 111122223333; its token follows and is not shown again", created.Err);

        var listed = await RunAsync(db, "keys", "list", "--json");
        Assert.True(listed.Exit == 0, listed.Err);
        var key = Assert.Single(JsonNode.Parse(listed.Out)!.AsArray())!;
        Assert.Equal((id, "acme-portal", "account", "111122223333", $"cli:{Environment.UserName}"),
            ((string)key["id"]!, (string)key["name"]!, (string)key["role"]!, (string)key["accountId"]!, (string)key["createdBy"]!));
        Assert.Null(key["revokedAt"]);
        // Only the hash is stored: the token's secret is nowhere in the table.
        Assert.DoesNotContain(token[16..], listed.Out);
        Assert.Equal(0L, await ScalarAsync(db, $"select count(*) from billing.mt_doc_apikey where data::text like '%{token[16..]}%'"));

        var revoked = await RunAsync(db, "keys", "revoke", id);
        Assert.True(revoked.Exit == 0, revoked.Err);
        Assert.StartsWith($"revoked key {id} 'acme-portal' at ", revoked.Out);
        var lines = await RunAsync(db, "keys", "list");
        Assert.Contains($"REVOKED", lines.Out);
        Assert.Contains($"by cli:{Environment.UserName}", lines.Out);
        Assert.EndsWith("1 keys, 0 active\n", lines.Out);
    }

    [Theory]
    [InlineData("--role admin", "--role must be producer, operator or account, not 'admin'")]
    [InlineData("--role account", "an account key needs --account with the account's id (12 digits)")]
    [InlineData("--role account --account 12ab", "an account key needs --account with the account's id (12 digits), not '12ab'")]
    [InlineData("--role producer --account 111122223333", "only an account key reads one account; a producer key takes no --account")]
    [InlineData("--role operator --name has/slash", "a key's name is 1-64 letters, digits, '-', '_' or '.', not 'has/slash'")]
    public async Task A_key_that_cannot_be_is_refused_with_exit_2(string options, string message)
    {
        var db = await PostgresServer.CreateDatabaseAsync("billing_keys_bad");
        var result = await RunAsync(db, ["keys", "create", .. options.Split(' ')]);
        Assert.Equal(2, result.Exit);
        Assert.Equal($"billing: {message}\n", result.Err);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Serve_on_a_database_without_keys_says_how_to_make_one_and_refuses_requests()
    {
        var db = await PostgresServer.CreateDatabaseAsync("billing_nokeys");
        var port = Ports.Free();
        await using var serve = ChildProcess.Start(Dll, db, new Dictionary<string, string> { ["BILLING_URLS"] = $"http://127.0.0.1:{port}" }, "serve");
        await Eventually.UntilAsync(() => Task.FromResult(serve.StandardError.Contains("every request is refused")), TimeSpan.FromMinutes(2),
            "serve saying it refuses every request", details: () => serve.StandardError);
        Assert.Contains("billing: every request is refused: no API key exists yet: create the first with `billing keys create --role operator --name NAME`", serve.StandardError);
        using var http = new HttpClient();
        using var response = await http.GetAsync($"http://127.0.0.1:{port}/api/dead-letters");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("no API key exists yet", await response.Content.ReadAsStringAsync());
    }

    static async Task<long> ScalarAsync(string db, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }
}
