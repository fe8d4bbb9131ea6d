namespace Billing.Invoicing;

/// <summary>What an invoice line charges (spec section 10), in the order lines appear within a region.</summary>
public enum LineKind
{
    EndpointHours,
    DataProcessing,
    CrossAzOut,
    CrossAzIn,
}

public static class LineKinds
{
    /// <summary>The kind of an adjustment line on the wire; it names the adjusted kind in "of".</summary>
    public const string Adjustment = "adjustment";

    /// <summary>"endpoint-hours", "data-processing", "cross-az-out", "cross-az-in".</summary>
    public static string Wire(this LineKind kind) => kind switch
    {
        LineKind.EndpointHours => "endpoint-hours",
        LineKind.DataProcessing => "data-processing",
        LineKind.CrossAzOut => "cross-az-out",
        LineKind.CrossAzIn => "cross-az-in",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static LineKind Parse(string wire) => wire switch
    {
        "endpoint-hours" => LineKind.EndpointHours,
        "data-processing" => LineKind.DataProcessing,
        "cross-az-out" => LineKind.CrossAzOut,
        "cross-az-in" => LineKind.CrossAzIn,
        _ => throw new FormatException($"'{wire}' is not an invoice line kind (endpoint-hours, data-processing, cross-az-out, cross-az-in)"),
    };

    /// <summary>"hours" for endpoint-hours, "GB" for everything else.</summary>
    public static string Unit(this LineKind kind) => kind == LineKind.EndpointHours ? "hours" : "GB";
}
