using Billing.Host;
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

    Task<ShellScript.Result> RunAsync(params string[] args) =>
        ShellScript.RunAsync(Path.Combine(_checkout, "billing"), args, new Dictionary<string, string?>
        {
            ["BILLING_DB"] = null,
            ["BILLING_DLL"] = Path.Combine(AppContext.BaseDirectory, "billing.dll"),
        }, TimeSpan.FromSeconds(60));

    [Theory]
    [InlineData("help")]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_prints_the_verbs_without_touching_the_database(string verb)
    {
        var result = await RunAsync(verb);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.StandardError}");
        Assert.Equal(Cli.Help.TrimEnd(), result.StandardOutput.TrimEnd());
        Assert.DoesNotContain("db:", result.StandardError);
        Assert.False(File.Exists(_marker), "scripts/db.sh was called");
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

    [Fact]
    public async Task An_unknown_verb_fails_with_the_help_without_touching_the_database()
    {
        var result = await RunAsync("halp");
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("billing: unknown verb 'halp'", result.StandardError);
        Assert.False(File.Exists(_marker), "scripts/db.sh was called");
    }

    [Theory]
    [InlineData("usage")]
    [InlineData("serve")]
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
