namespace Billing.Metering;

/// <summary>1 GB = 2^30 bytes; a GB quantity is rounded half away from zero to 9 places, once per aggregate.</summary>
public static class Gigabytes
{
    public const decimal BytesPerGb = 1_073_741_824m;

    public static decimal FromBytes(decimal bytes) => Math.Round(bytes / BytesPerGb, 9, MidpointRounding.AwayFromZero);

    /// <summary>"12.500000000": GB as the contract writes them, always 9 places.</summary>
    public static string Format(decimal gb) => gb.ToString("0.000000000", System.Globalization.CultureInfo.InvariantCulture);
}
