using System.Reflection;
using System.Text.RegularExpressions;
using Spectre.Console;
using Spectre.Console.Cli;
using Spectre.Console.Cli.Help;
using Spectre.Console.Rendering;

namespace Billing.Host;

/// <summary>
/// What every billing command line (the host's `billing`, the bench's `billing bench`) does alike on
/// Spectre.Console.Cli: errors as `billing: message` on stderr with exit code 2; unknown verbs and
/// options refused, naming the closest valid one; help generated from the settings classes.
/// Verbs are added through <see cref="Verb{TSettings}(IConfigurator, string, Func{TSettings, CancellationToken, Task{int}})"/>,
/// which registers them with Spectre and remembers their settings class, whose options name the closest one.
/// </summary>
/// <param name="header">A line above the root help; <paramref name="footer"/> a paragraph under it.</param>
public sealed partial class CommandLine(string name, string? header = null, string? footer = null)
{
    public const int UsageError = 2;

    /// <summary>Each verb's settings class by the words that name it ("usage", "dead-letters list"; "" for a default command).</summary>
    readonly Dictionary<string, Type> _settings = new(StringComparer.Ordinal);

    public void Apply(IConfigurator config)
    {
        config.SetApplicationName(name);
        // Unknown options fail while parsing, before a missing required option is reported.
        config.UseStrictParsing();
        // Exceptions reach RunAsync as they are: CLI errors become exit code 2 there, any other keeps its stack trace.
        config.PropagateExceptions();
        config.SetHelpProvider(new Help(config.Settings, header, footer));
        // Help read from a file or a pipe is laid out 120 wide (Spectre's 80 wraps most descriptions); a terminal's own width otherwise.
        if (Console.IsOutputRedirected)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
            console.Profile.Width = 120;
            config.ConfigureConsole(console);
        }
        config.Settings.Registrar.RegisterInstance<ICommandInterceptor>(new RefuseWordsAfterDashDash());
    }

    public ICommandConfigurator Verb<TSettings>(IConfigurator config, string verb, Func<TSettings, CancellationToken, Task<int>> run)
        where TSettings : CommandSettings
    {
        _settings[verb] = typeof(TSettings);
        return config.AddAsyncDelegate<TSettings>(verb, (_, settings, ct) => run(settings, ct));
    }

    /// <param name="path">The branch's verb and this one, e.g. "dead-letters list".</param>
    public ICommandConfigurator Verb<TSettings>(IConfigurator<CommandSettings> branch, string path, Func<TSettings, CancellationToken, Task<int>> run)
        where TSettings : CommandSettings
    {
        _settings[path] = typeof(TSettings);
        return branch.AddAsyncDelegate<TSettings>(path.Split(' ')[^1], (_, settings, ct) => run(settings, ct));
    }

    /// <summary>The settings of the app's default command (<c>CommandApp&lt;TCommand&gt;</c>), which takes no verb.</summary>
    public void DefaultSettings<TSettings>() where TSettings : CommandSettings => _settings[""] = typeof(TSettings);

    public async Task<int> RunAsync(ICommandApp app, IReadOnlyList<string> args)
    {
        try
        {
            return await app.RunAsync(args);
        }
        catch (CliException e)
        {
            return Fail(e.Message);
        }
        catch (CommandRuntimeException e)
        {
            return Fail(Describe(e, args));
        }
    }

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"billing: {message}");
        return UsageError;
    }

    /// <summary>
    /// A Spectre error in one line. An unknown verb comes with Spectre's own suggestion (the text under
    /// the caret of its message, "Did you mean 'usage'?"); Spectre suggests no option, so an unknown
    /// option comes with the closest option its verb's settings class declares.
    /// </summary>
    string Describe(CommandRuntimeException e, IReadOnlyList<string> args)
    {
        var detail = e.Pretty is { } pretty ? CaretDetail(Plain(pretty)) : null;
        if (UnknownCommand().Match(e.Message) is { Success: true } command)
        {
            var token = command.Groups[1].Value;
            var at = Math.Max(args.ToList().IndexOf(token), 0);
            var what = at > 0 ? $"unknown verb '{token}' after '{string.Join(' ', args.Take(at))}'" : $"unknown verb '{token}'";
            return detail is not null && detail.StartsWith("Did you mean", StringComparison.Ordinal)
                ? $"{what}; {LowerFirst(detail)}"
                : $"{what}; {string.Join(' ', [name, .. args.Take(at)])} --help lists the verbs";
        }
        if (UnknownOption().Match(e.Message) is { Success: true } option)
        {
            var typed = option.Groups[1].Value is { Length: 1 } letter ? $"-{letter}" : $"--{option.Groups[1].Value}";
            var verb = VerbOf(args);
            var closest = verb is null ? null : ClosestOption(_settings[verb], typed);
            var of = verb is null or "" ? name : verb;
            return closest is null ? $"unknown option '{typed}' for '{of}', which takes no options" : $"unknown option '{typed}' for '{of}'; did you mean '{closest}'?";
        }
        if (MissingRequired().Match(e.Message) is { Success: true } missing && VerbOf(args) is { } named)
        {
            var wanted = missing.Groups[1].Value;
            var needs = OptionsOf(_settings[named]).Contains($"--{wanted}") ? $"--{wanted}" : wanted;
            return named == "" ? $"{name} needs {needs} (see {name} --help)" : $"{named} needs {needs} (see {name} {named} --help)";
        }
        if (NotANumber().Match(e.Message) is { Success: true } number)
        {
            // The option is the word before the value, as in "--accounts abc".
            var value = number.Groups[1].Value;
            var at = args.ToList().IndexOf(value);
            return at > 0 && args[at - 1].StartsWith("--", StringComparison.Ordinal)
                ? $"{args[at - 1]} must be a positive whole number, not '{value}'"
                : $"'{value}' is not a whole number";
        }
        var message = e.Message.TrimEnd('.');
        return detail is null || detail.TrimEnd('.').Equals(message, StringComparison.OrdinalIgnoreCase) ? message : $"{message}: {LowerFirst(detail)}";
    }

    /// <summary>The longest run of leading words that names a registered verb.</summary>
    string? VerbOf(IReadOnlyList<string> args)
    {
        var words = args.TakeWhile(a => !a.StartsWith('-')).ToList();
        for (var n = words.Count; n >= 0; n--)
            if (_settings.ContainsKey(string.Join(' ', words.Take(n)))) return string.Join(' ', words.Take(n));
        return null;
    }

    [GeneratedRegex("^Unknown command '(.*)'\\.$")]
    private static partial Regex UnknownCommand();

    [GeneratedRegex("^Unknown option '(.*)'\\.$")]
    private static partial Regex UnknownOption();

    [GeneratedRegex("^Command '.*' is missing required argument '(.*)'\\.$")]
    private static partial Regex MissingRequired();

    [GeneratedRegex("^Failed to convert '(.*)' to Int32\\.")]
    private static partial Regex NotANumber();

    /// <summary>The text after the carets of Spectre's pretty error ("       ^^^^ Did you mean 'usage'?").</summary>
    static string? CaretDetail(string plain) =>
        plain.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith('^')) is { } line && line.TrimStart('^').Trim() is { Length: > 0 } d ? d : null;

    static string Plain(IRenderable renderable)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No, Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 500;
        console.Write(renderable);
        return writer.ToString();
    }

    static string LowerFirst(string s) => s.Length == 0 ? s : char.ToLowerInvariant(s[0]) + s[1..];

    /// <summary>Every option a settings class declares, as typed ("--account"), read from the attributes the parser reads.</summary>
    public static IReadOnlyList<string> OptionsOf(Type settings) =>
        settings.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => p.GetCustomAttribute<CommandOptionAttribute>())
            .OfType<CommandOptionAttribute>()
            .SelectMany(o => o.LongNames.Select(n => $"--{n}").Concat(o.ShortNames.Select(n => $"-{n}")))
            .ToList();

    /// <summary>The option of <paramref name="settings"/> closest to <paramref name="typed"/> by edit distance; null when it has none.</summary>
    public static string? ClosestOption(Type settings, string typed) => OptionsOf(settings).MinBy(o => EditDistance(o, typed));

    /// <summary>Levenshtein distance: insertions, deletions and substitutions of one character each.</summary>
    public static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
    }

    /// <summary>Strict parsing still sets aside the words after "--"; no verb takes any.</summary>
    sealed class RefuseWordsAfterDashDash : ICommandInterceptor
    {
        public void Intercept(CommandContext context, CommandSettings settings)
        {
            if (context.Remaining.Raw.Count > 0 || context.Remaining.Parsed.Count > 0)
                throw new CliException($"'{context.Name}' takes nothing after '--' (got '{string.Join(' ', context.Remaining.Raw)}')");
        }
    }

    /// <summary>Spectre's generated help, with a header and a footer on the root help only.</summary>
    sealed class Help(ICommandAppSettings settings, string? header, string? footer) : HelpProvider(settings)
    {
        public override IEnumerable<IRenderable> GetHeader(ICommandModel model, ICommandInfo? command) =>
            command is null && header is not null ? [new Text($"{header}\n\n")] : [];

        public override IEnumerable<IRenderable> GetFooter(ICommandModel model, ICommandInfo? command) =>
            command is null && footer is not null ? [new Text($"\n\n{footer}\n")] : [];
    }
}

/// <summary>An option whose whole number must be positive, as every count and size of the CLI.</summary>
public sealed class PositiveAttribute() : ParameterValidationAttribute(errorMessage: "")
{
    public override ValidationResult Validate(CommandParameterContext context) =>
        context.Value is int n && n <= 0
            ? ValidationResult.Error($"{(context.Parameter is ICommandOption o ? $"--{o.LongNames[0]}" : context.Parameter.PropertyName)} must be a positive whole number, not '{n}'")
            : ValidationResult.Success();
}
