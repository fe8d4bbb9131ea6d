using System.Globalization;
using System.Text.Json;
using Billing.Events;
using Billing.Metering;

namespace Billing.Invoicing;

/// <summary>
/// Reads the JSON form of a price book (docs/invoicing.md) and checks it whole: every problem is
/// reported with where it is ("price book: region 'x' version 2026-10: ..."), none is guessed around.
/// </summary>
static class PriceBookReader
{
    /// <summary>Endpoint types that are priced; Gateway is free by rule and takes no price.</summary>
    static readonly EndpointType[] Priced = [EndpointType.Interface, EndpointType.GatewayLoadBalancer, EndpointType.Resource];

    static readonly string[] VersionKeys = ["effectiveFrom", "hourly", "dataProcessing", "crossAzPerGb"];
    static readonly string[] TierKeys = ["upToGb", "rate"];

    public static PriceBook Read(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new PriceBookException($"{source}: not valid JSON: {e.Message}");
        }

        using (doc)
        {
            var errors = new List<string>();
            var book = Read(doc.RootElement, source, errors);
            if (errors.Count > 0) throw new PriceBookException(errors);
            return book;
        }
    }

    static PriceBook Read(JsonElement root, string source, List<string> errors)
    {
        var versions = new Dictionary<string, PriceBookVersion[]>(StringComparer.Ordinal);
        if (root.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{source}: must be a JSON object with \"regions\"");
            return new PriceBook(versions);
        }
        foreach (var p in root.EnumerateObject())
            if (p.Name != "regions") errors.Add($"{source}: unknown key '{p.Name}' (expected \"regions\")");
        if (!root.TryGetProperty("regions", out var regions) || regions.ValueKind != JsonValueKind.Object)
        {
            errors.Add($"{source}: \"regions\" must be an object of region name to versions");
            return new PriceBook(versions);
        }

        foreach (var region in regions.EnumerateObject())
        {
            var where = $"{source}: region '{region.Name}'";
            if (!IsRegionName(region.Name)) { errors.Add($"{where}: a region name is lower-case letters, digits and '-' (like us-east-1)"); continue; }
            if (versions.ContainsKey(region.Name)) { errors.Add($"{where}: appears twice"); continue; }
            if (region.Value.ValueKind != JsonValueKind.Array || region.Value.GetArrayLength() == 0)
            {
                errors.Add($"{where}: must be a non-empty array of versions");
                continue;
            }

            var list = new List<PriceBookVersion>();
            var index = 0;
            foreach (var v in region.Value.EnumerateArray())
            {
                index++;
                if (ReadVersion(region.Name, v, where, index, errors) is not { } version) continue;
                if (list.Any(x => x.EffectiveFrom == version.EffectiveFrom))
                    errors.Add($"{where}: two versions are effective from {version.EffectiveFrom}");
                else
                    list.Add(version);
            }
            versions[region.Name] = list.OrderBy(x => x.EffectiveFrom).ToArray();
        }
        if (versions.Count == 0 && errors.Count == 0) errors.Add($"{source}: has no regions");
        return new PriceBook(versions);
    }

    static PriceBookVersion? ReadVersion(string region, JsonElement v, string regionWhere, int index, List<string> errors)
    {
        var where = $"{regionWhere} version #{index}";
        if (v.ValueKind != JsonValueKind.Object) { errors.Add($"{where}: must be an object"); return null; }
        var before = errors.Count;

        if (!v.TryGetProperty("effectiveFrom", out var from) || from.ValueKind != JsonValueKind.String ||
            !BillingPeriod.TryParse(from.GetString(), out var effectiveFrom))
        {
            errors.Add($"{where}: \"effectiveFrom\" must be a period like \"2019-01\" (versions start at a period)");
            return null;
        }
        where = $"{regionWhere} version {effectiveFrom}";

        foreach (var p in v.EnumerateObject())
            if (!VersionKeys.Contains(p.Name)) errors.Add($"{where}: unknown key '{p.Name}' (expected {string.Join(", ", VersionKeys)})");

        var hourly = new Dictionary<EndpointType, decimal>();
        if (!v.TryGetProperty("hourly", out var hourlyJson) || hourlyJson.ValueKind != JsonValueKind.Object)
            errors.Add($"{where}: \"hourly\" must be an object of endpoint type to hourly rate");
        else
        {
            foreach (var p in hourlyJson.EnumerateObject())
            {
                if (!Enum.TryParse<EndpointType>(p.Name, ignoreCase: false, out var type) || !Enum.IsDefined(type) || p.Name != type.ToString())
                    errors.Add($"{where}: hourly: unknown endpoint type '{p.Name}' (expected {string.Join(", ", Priced)})");
                else if (type == EndpointType.Gateway)
                    errors.Add($"{where}: hourly: Gateway endpoints are free and take no rate");
                else if (Rate(p.Value, $"{where}: hourly {p.Name}", errors) is { } rate)
                    hourly[type] = rate;
            }
            foreach (var type in Priced)
                if (!hourlyJson.TryGetProperty(type.ToString(), out _)) errors.Add($"{where}: hourly: missing the rate for {type}");
        }

        var processing = new Dictionary<string, TierSchedule>(StringComparer.Ordinal);
        if (!v.TryGetProperty("dataProcessing", out var dp) || dp.ValueKind != JsonValueKind.Object)
            errors.Add($"{where}: \"dataProcessing\" must be an object of pool to tiers");
        else
        {
            foreach (var pool in dp.EnumerateObject())
            {
                if (!Priced.Select(Pools.Of).Contains(pool.Name))
                    errors.Add($"{where}: dataProcessing: unknown pool '{pool.Name}' (expected {string.Join(", ", Priced.Select(Pools.Of))})");
                else if (ReadTiers(pool.Value, $"{where}: dataProcessing '{pool.Name}'", errors) is { } schedule)
                    processing[pool.Name] = schedule;
            }
            foreach (var pool in Priced.Select(Pools.Of))
                if (!dp.TryGetProperty(pool, out _)) errors.Add($"{where}: dataProcessing: missing the tiers of pool '{pool}'");
        }

        decimal? crossAz = null;
        if (!v.TryGetProperty("crossAzPerGb", out var crossJson))
            errors.Add($"{where}: missing \"crossAzPerGb\"");
        else
            crossAz = Rate(crossJson, $"{where}: crossAzPerGb", errors);

        return errors.Count == before && crossAz is { } c
            ? new PriceBookVersion(region, effectiveFrom, hourly.AsReadOnly(), processing.AsReadOnly(), c)
            : null;
    }

    static TierSchedule? ReadTiers(JsonElement json, string where, List<string> errors)
    {
        if (json.ValueKind != JsonValueKind.Array || json.GetArrayLength() == 0)
        {
            errors.Add($"{where}: must be a non-empty array of tiers like {{\"upToGb\": 1048576, \"rate\": 0.01}}");
            return null;
        }
        var before = errors.Count;
        var tiers = new List<PriceTier>();
        var count = json.GetArrayLength();
        var n = 0;
        foreach (var t in json.EnumerateArray())
        {
            n++;
            var at = $"{where} tier {n}";
            if (t.ValueKind != JsonValueKind.Object) { errors.Add($"{at}: must be an object"); continue; }
            foreach (var p in t.EnumerateObject())
                if (!TierKeys.Contains(p.Name)) errors.Add($"{at}: unknown key '{p.Name}' (expected upToGb, rate)");

            decimal? upTo = null;
            if (t.TryGetProperty("upToGb", out var upJson) && upJson.ValueKind != JsonValueKind.Null)
            {
                upTo = Number(upJson, $"{at}: upToGb", errors);
                if (n == count) errors.Add($"{at}: the last tier must have no upToGb (it takes everything above the previous tier)");
                else if (upTo is <= 0) errors.Add($"{at}: upToGb must be greater than 0");
                else if (upTo is { } u && tiers.Count > 0 && tiers[^1].UpToGb is { } previous && u <= previous)
                    errors.Add($"{at}: upToGb must be greater than tier {n - 1} ({u.ToString(CultureInfo.InvariantCulture)} <= {previous.ToString(CultureInfo.InvariantCulture)})");
            }
            else if (n < count) errors.Add($"{at}: upToGb is required on every tier but the last");

            if (!t.TryGetProperty("rate", out var rateJson)) errors.Add($"{at}: missing \"rate\"");
            else if (Rate(rateJson, $"{at}: rate", errors) is { } rate) tiers.Add(new PriceTier(upTo, rate));
        }
        return errors.Count == before ? new TierSchedule(tiers) : null;
    }

    static decimal? Rate(JsonElement json, string where, List<string> errors)
    {
        var value = Number(json, where, errors);
        if (value is < 0) { errors.Add($"{where} must not be negative"); return null; }
        return value;
    }

    /// <summary>A JSON number or a string holding one, read exactly as a decimal (never through double).</summary>
    static decimal? Number(JsonElement json, string where, List<string> errors)
    {
        if (json.ValueKind == JsonValueKind.Number && json.TryGetDecimal(out var d)) return d;
        if (json.ValueKind == JsonValueKind.String &&
            decimal.TryParse(json.GetString(), NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out d))
            return d;
        errors.Add($"{where} must be a decimal number, got {json.GetRawText()}");
        return null;
    }

    static bool IsRegionName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-');
}
