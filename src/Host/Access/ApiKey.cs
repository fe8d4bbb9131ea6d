using System.Security.Cryptography;
using System.Text;
using NodaTime;

namespace Billing.Host.Access;

/// <summary>What a key may do: post usage, read one account's data, or everything.</summary>
public enum KeyRole { Producer, Operator, Account }

/// <summary>
/// An API key as stored: only the SHA-256 of its token, never the token itself. A token is 256
/// random bits, so a fast hash is enough (a slow password hash protects guessable secrets).
/// </summary>
public sealed record ApiKey
{
    public string Id { get; init; } = "";
    public string Name { get; init; } = "";
    public KeyRole Role { get; init; }

    /// <summary>The one account an <see cref="KeyRole.Account"/> key reads; null for the other roles.</summary>
    public string? AccountId { get; init; }

    public byte[] TokenSha256 { get; init; } = [];
    public Instant CreatedAt { get; init; }
    public string CreatedBy { get; init; } = "";
    public Instant? RevokedAt { get; init; }
    public string? RevokedBy { get; init; }

    public bool Matches(string token) => CryptographicOperations.FixedTimeEquals(ApiKeyToken.Hash(token), TokenSha256);

    public Actor Actor => Actor.Key(Id, Name);
}

/// <summary>
/// Whether any key exists, for the refusal that tells how to create the first. Keys are revoked, never
/// deleted, so once one is seen the answer stays true and no refused request reads the table again.
/// </summary>
public sealed class KeysExist(Marten.IDocumentStore store)
{
    volatile bool _seen;

    public async Task<bool> AnyAsync(CancellationToken ct = default)
    {
        if (_seen) return true;
        await using var session = store.QuerySession();
        return _seen = await Marten.QueryableExtensions.AnyAsync(session.Query<ApiKey>(), ct);
    }
}

/// <summary>
/// A key's token, <c>bk_{id}.{secret}</c>: the id (12 hex digits) finds the stored key, the secret
/// (32 random bytes, base64url) proves it. Clients send it as <c>Authorization: Bearer {token}</c>.
/// </summary>
public static class ApiKeyToken
{
    public const string Prefix = "bk_";
    const int IdLength = 12;

    /// <summary>A new key and its token: the token is shown once and never stored.</summary>
    public static (ApiKey Key, string Token) Create(KeyRole role, string? accountId, string name, Actor by, Instant now)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdLength / 2));
        var token = $"{Prefix}{id}.{Base64Url(RandomNumberGenerator.GetBytes(32))}";
        return (new ApiKey
        {
            Id = id, Name = name, Role = role, AccountId = accountId,
            TokenSha256 = Hash(token), CreatedAt = now, CreatedBy = by.ToString(),
        }, token);
    }

    /// <summary>The key id a token names, or null when the text is not shaped like a token.</summary>
    public static string? IdOf(string token) =>
        token.Length == Prefix.Length + IdLength + 1 + SecretLength && token.StartsWith(Prefix, StringComparison.Ordinal) && token[Prefix.Length + IdLength] == '.'
        && !token.AsSpan(Prefix.Length, IdLength).ContainsAnyExcept("0123456789abcdef")
        && !token.AsSpan(Prefix.Length + IdLength + 1).ContainsAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            ? token.Substring(Prefix.Length, IdLength)
            : null;

    /// <summary>32 bytes in base64url without padding.</summary>
    const int SecretLength = 43;

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Why a key cannot be created so, or null: names are shown in logs and lists, so they are short and plain.</summary>
    public static string? Refuse(KeyRole role, string? accountId, string name) =>
        name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? $"a key's name is 1-64 letters, digits, '-', '_' or '.', not '{name}'"
        : role == KeyRole.Account && (accountId is null || accountId.Length != 12 || !accountId.All(char.IsAsciiDigit))
            ? $"an account key needs --account with the account's id (12 digits){(accountId is null ? "" : $", not '{accountId}'")}"
        : role != KeyRole.Account && accountId is not null
            ? $"only an account key reads one account; a {role.ToString().ToLowerInvariant()} key takes no --account"
        : null;
}
