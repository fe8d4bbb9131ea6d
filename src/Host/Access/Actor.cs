namespace Billing.Host.Access;

/// <summary>
/// Who did something: an API key (id and name), the subject of a JWT from the configured issuer, a user at the command line, the service's own
/// schedule, or a producer on the broker (authenticated by the broker, not by a key). Its text form is
/// what Wolverine relays on each envelope and Marten stores as each event's user name.
/// </summary>
public sealed record Actor
{
    public string Kind { get; }
    public string? KeyId { get; }
    public string? Name { get; }

    Actor(string kind, string? keyId, string? name) => (Kind, KeyId, Name) = (kind, keyId, name);

    public static Actor Key(string id, string name) => new("key", id, name);

    public static Actor Cli(string user) => new("cli", null, user);

    /// <summary>The subject (<c>sub</c>) of a JWT from BILLING_JWT_AUTHORITY: one issuer is trusted at a time, so its subject alone names the user.</summary>
    public static Actor Jwt(string subject) => new("jwt", null, subject);

    /// <summary>The user running this process: whoever runs a CLI verb is the one who did it.</summary>
    public static Actor CurrentUser => Cli(Environment.UserName);

    public static readonly Actor Schedule = new("schedule", null, null);

    public static readonly Actor Broker = new("broker", null, null);

    /// <summary>"key:{id}:{name}", "jwt:{sub}", "cli:{user}", "schedule" or "broker".</summary>
    public override string ToString() => Kind switch
    {
        "key" => $"key:{KeyId}:{Name}",
        "cli" => $"cli:{Name}",
        "jwt" => $"jwt:{Name}",
        _ => Kind,
    };

    /// <summary>The actor of a text written by <see cref="ToString"/>; null for null or text of another shape.</summary>
    public static Actor? Parse(string? text) => text switch
    {
        null => null,
        "schedule" => Schedule,
        "broker" => Broker,
        _ when text.StartsWith("cli:", StringComparison.Ordinal) => Cli(text[4..]),
        _ when text.StartsWith("jwt:", StringComparison.Ordinal) && text.Length > 4 => Jwt(text[4..]),
        _ when text.StartsWith("key:", StringComparison.Ordinal) && text.IndexOf(':', 4) is > 4 and var at => Key(text[4..at], text[(at + 1)..]),
        _ => null,
    };
}
