using Billing.Tests.Support;

namespace Billing.Tests.RunningLocally;

/// <summary>
/// The `billing` script starts the project-local PostgreSQL only for verbs that use a database.
/// It runs here from a copy laid out like a checkout whose scripts/db.sh is a stub that fails
/// loudly, so a call to it cannot go unnoticed (and no real cluster is ever started), with the
/// test's own build of billing.dll (BILLING_DLL), so nothing is built.
/// </summary>
public sealed class BillingScriptTests : IDisposable
{
    readonly string _checkout = Directory.CreateTempSubdirectory("billing-script-").FullName;
    readonly string _marker;

    public BillingScriptTests()
    {
        File.Copy(Path.Combine(PostgresServer.RepositoryRoot(), "billing"), Path.Combine(_checkout, "billing"));
        Directory.CreateDirectory(Path.Combine(_checkout, "scripts"));
        _marker = Path.Combine(_checkout, "db.sh-was-called");
        File.WriteAllText(Path.Combine(_checkout, "scripts", "db.sh"), $"#!/usr/bin/env bash\ntouch '{_marker}'\necho \"db: the stub was called with: $*\" >&2\nexit 97\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(_checkout, "scripts", "db.sh"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public void Dispose() => Directory.Delete(_checkout, recursive: true);

    Task<ShellScript.Result> RunAsync(params string[] args) => RunWithDatabaseAsync(null, args);

    /// <param name="database">BILLING_DB for the child; null leaves it unset, so the script would start the (stub) cluster.</param>
    Task<ShellScript.Result> RunWithDatabaseAsync(string? database, params string[] args) =>
        ShellScript.RunAsync(Path.Combine(_checkout, "billing"), args, new Dictionary<string, string?>
        {
            ["BILLING_DB"] = database,
            ["BILLING_DLL"] = Path.Combine(AppContext.BaseDirectory, "billing.dll"),
        }, TimeSpan.FromSeconds(60));

    /// <summary>A server nothing listens on: a verb refused while parsing never gets as far as connecting.</summary>
    const string NoDatabase = "Host=127.0.0.1;Port=1;Username=nobody;Timeout=1";

    /// <summary>Every verb of the root help, each on a line of its own in its COMMANDS section.</summary>
    static readonly string[] Verbs =
        ["serve", "import", "usage", "spend", "close", "rerate", "invoices", "invoice", "export", "dead-letters", "keys", "webhooks", "budgets", "replay", "demo", "generate", "bench",
         "codegen", "describe", "db-apply", "db-assert", "resources", "projections"];

    [Theory]
    [InlineData("help")]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_prints_the_verbs_without_touching_the_database(string verb)
    {
        var result = await RunAsync(verb);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.StandardError}");
        var lines = result.StandardOutput.Split('\n');
        Assert.StartsWith("billing — event-sourced billing and metering for private endpoints", lines[0]);
        var commands = lines.SkipWhile(l => l.Trim() != "COMMANDS:").Skip(1).TakeWhile(l => l.Trim().Length > 0)
            .Where(l => l.Length > 4 && l[4] != ' ').Select(l => l.Trim().Split(' ')[0]).ToList();
        Assert.Equal(Verbs, commands.Where(c => c != "help"));
        Assert.Contains("    usage            an account's usage in a period (as payer; cross-AZ as owner)", lines.Select(l => l.TrimEnd()));
        Assert.Contains("  BILLING_DB                 Npgsql connection string; default the project-local cluster of scripts/db.sh", lines);
        Assert.Equal((await RunAsync("--help")).StandardOutput, result.StandardOutput);
        Assert.DoesNotContain("db:", result.StandardError);
        Assert.False(File.Exists(_marker), "scripts/db.sh was called");
    }

    [Fact]
    public async Task A_verbs_help_is_generated_from_its_options_without_touching_the_database()
    {
        var result = await RunAsync("usage", "--help");
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.StandardError}");
        var lines = result.StandardOutput.Split('\n').Select(l => l.TrimEnd()).ToList();
        Assert.Contains("    billing usage [OPTIONS]", lines);
        Assert.Contains("        --account <ID>        the account (12 digits). Required", lines);
        Assert.Contains("        --period <YYYY-MM>    the billing period. Required", lines);
        Assert.Contains("        --json                the JSON of GET /api/usage/{accountId}/{period} instead of a table", lines);
        Assert.Equal(result.StandardOutput, (await RunAsync("help", "usage")).StandardOutput);
        Assert.False(File.Exists(_marker), "scripts/db.sh was called");
    }

    [Theory]
    [InlineData("billing: unknown option '--acount' for 'usage'; did you mean '--account'?", "usage", "--acount", "111122223333", "--period", "2026-10")]
    [InlineData("billing: unknown option '--peroid' for 'usage'; did you mean '--period'?", "usage", "--account", "111122223333", "--peroid", "2026-10")]
    [InlineData("billing: unknown option '--cod' for 'dead-letters list'; did you mean '--code'?", "dead-letters", "list", "--cod", "E_UNKNOWN_ENDPOINT")]
    [InlineData("billing: unknown option '--recordsperhour' for 'generate'; did you mean '--records-per-hour'?", "generate", "--out", "x.jsonl", "--recordsperhour", "4")]
    [InlineData("billing: unknown option '--json' for 'replay', which takes no options", "replay", "--json")]
    public async Task An_unknown_option_is_refused_naming_the_closest_one(string expected, params string[] args)
    {
        var result = await RunWithDatabaseAsync(NoDatabase, args);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(expected, result.StandardError.TrimEnd());
        Assert.Equal("", result.StandardOutput);
    }

    [Fact]
    public async Task Generate_writes_its_file_without_touching_the_database()
    {
        var file = Path.Combine(_checkout, "usage.jsonl");
        // The child reads the machine's clock: last month by that clock, never a fixed calendar period.
        var period = Billing.Metering.BillingPeriod.Of(NodaTime.SystemClock.Instance.GetCurrentInstant()).Previous.ToString();
        var result = await RunAsync("generate", "--out", file, "--accounts", "1", "--period", period, "--hours-between-traffic", "24");
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.StandardError}");
        Assert.StartsWith("wrote ", result.StandardOutput);
        Assert.Contains($"records for {period} to {file}", result.StandardOutput);
        Assert.True(new FileInfo(file).Length > 0);
        Assert.DoesNotContain("db:", result.StandardError);
        Assert.False(File.Exists(_marker), "scripts/db.sh was called");
    }

    [Theory]
    [InlineData("billing: unknown verb 'usag'; did you mean 'usage'?", "usag", "--account", "111122223333", "--period", "2026-10")]
    [InlineData("billing: unknown verb 'halp'; did you mean 'help'?", "halp")]
    [InlineData("billing: unknown verb 'xyzzy'; billing --help lists the verbs", "xyzzy")]
    public async Task An_unknown_verb_is_refused_naming_the_closest_without_touching_the_database(string expected, params string[] args)
    {
        var result = await RunAsync(args);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(expected, result.StandardError.TrimEnd());
        Assert.False(File.Exists(_marker), "scripts/db.sh was called");
    }

    [Fact]
    public async Task An_unknown_subverb_is_refused_naming_the_closest()
    {
        var result = await RunWithDatabaseAsync(NoDatabase, "dead-letters", "lst");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("billing: unknown verb 'lst' after 'dead-letters'; did you mean 'list'?", result.StandardError.TrimEnd());
    }

    [Theory]
    [InlineData("billing: usage needs --period (see billing usage --help)", "usage", "--account", "111122223333")]
    [InlineData("billing: import needs FILE (see billing import --help)", "import")]
    [InlineData("billing: --accounts must be a positive whole number, not '0'", "generate", "--out", "x.jsonl", "--accounts", "0")]
    [InlineData("billing: --accounts must be a positive whole number, not 'many'", "generate", "--out", "x.jsonl", "--accounts", "many")]
    [InlineData("billing: 'dead-letters' needs one of its verbs: billing dead-letters --help lists them", "dead-letters")]
    public async Task A_call_the_verb_cannot_take_fails_with_exit_code_2(string expected, params string[] args)
    {
        var result = await RunWithDatabaseAsync(NoDatabase, args);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(expected, result.StandardError.TrimEnd());
    }

    [Theory]
    [InlineData("usage")]
    [InlineData("serve")]
    [InlineData("rerate", "--period", "2026-10", "--pricebook", "book.json")]
    [InlineData("export", "focus", "--period", "2026-10", "--out", "focus.csv")]
    [InlineData()]
    public async Task A_verb_that_uses_the_database_starts_it_when_BILLING_DB_is_unset(params string[] args)
    {
        // The stub fails, so the script stops there (set -e) before running the verb.
        var result = await RunAsync(args);
        Assert.Equal(97, result.ExitCode);
        Assert.Contains("db: the stub was called with: start", result.StandardError);
        Assert.True(File.Exists(_marker));
    }
}
