using Spectre.Console.Cli;

namespace Billing.Host;

/// <summary>
/// The words of one verb's call (after the verb), for in-process callers of a verb method, such as
/// tests: <see cref="Bind{TSettings}"/> turns them into the verb's settings with the CLI's own parser,
/// so they mean exactly what they mean on the command line.
/// </summary>
public sealed class CliArgs(IEnumerable<string> words)
{
    public IReadOnlyList<string> Words { get; } = words.ToList();

    public TSettings Bind<TSettings>() where TSettings : CommandSettings
    {
        TSettings? bound = null;
        var cli = new CommandLine("billing");
        var app = new CommandApp();
        app.Configure(config =>
        {
            cli.Apply(config);
            cli.Verb<TSettings>(config, "verb", (settings, _) =>
            {
                bound = settings;
                return Task.FromResult(0);
            });
        });
        try
        {
            app.Run(["verb", .. Words]);
        }
        catch (CommandRuntimeException e)
        {
            throw new CliException(e.Message);
        }
        return bound ?? throw new CliException($"'{string.Join(' ', Words)}' did not bind to {typeof(TSettings).Name}");
    }
}

/// <summary>A mistake in a CLI call: printed as "billing: message", exit code 2.</summary>
/// <remarks>Not sealed: a refusal an HTTP route also gives (no such dead letter) derives from it.</remarks>
public class CliException(string message) : Exception(message);
