namespace Billing.Events;

/// <summary>
/// AZ IDs (use1-az1) name physical zones; AZ names (us-east-1a) differ per account and are never
/// used. An AZ ID starts with its region's short code: us-east-1 is "use1", ap-northeast-1 "apne1".
/// </summary>
public static class AvailabilityZones
{
    static readonly Dictionary<string, string> Words = new()
    {
        ["north"] = "n", ["south"] = "s", ["east"] = "e", ["west"] = "w", ["central"] = "c",
        ["northeast"] = "ne", ["northwest"] = "nw", ["southeast"] = "se", ["southwest"] = "sw",
        ["gov"] = "g", ["iso"] = "i",
    };

    /// <summary>The AZ ID prefix of a region: "us-east-1" → "use1".</summary>
    public static string Prefix(string region)
    {
        var parts = region.Split('-');
        if (parts.Length < 3) return region;
        var middle = parts[1..^1].Select(w => Words.TryGetValue(w, out var s) ? s : w[..1]);
        return parts[0] + string.Concat(middle) + parts[^1];
    }

    public static bool BelongsTo(string azId, string region) => azId.StartsWith(Prefix(region) + "-az", StringComparison.Ordinal);
}
