namespace Billing.Host;

/// <summary>The words of a CLI call: positional arguments, "--name value" options and "--flag" switches.</summary>
public sealed class CliArgs
{
    readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = [];

    public CliArgs(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            if (!list[i].StartsWith("--", StringComparison.Ordinal)) { Positional.Add(list[i]); continue; }
            var name = list[i][2..];
            var eq = name.IndexOf('=');
            if (eq >= 0) _options[name[..eq]] = name[(eq + 1)..];
            else if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal)) _options[name] = list[++i];
            else _options[name] = null;
        }
    }

    public string? Option(string name) => _options.GetValueOrDefault(name);
    public bool Flag(string name) => _options.ContainsKey(name);

    public int IntOption(string name, int fallback) =>
        Option(name) is { } v ? (int.TryParse(v, out var n) && n > 0 ? n : throw new CliException($"--{name} must be a positive whole number, not '{v}'")) : fallback;
}

public sealed class CliException(string message) : Exception(message);
