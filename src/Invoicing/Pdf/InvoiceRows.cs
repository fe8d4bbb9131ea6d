using System.Globalization;
using Billing.Events;

namespace Billing.Invoicing;

/// <summary>A row of the invoice table: a region heading, or a line with its cells as printed.</summary>
sealed record TableRow(bool IsRegion, string Description, string Quantity = "", string Unit = "", string Rate = "", string Amount = "");

/// <summary>How the invoice's lines read in the PDF table, grouped by region (lines are already in invoice order).</summary>
static class InvoiceRows
{
    static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    static readonly Dictionary<string, string> RegionNames = new(StringComparer.Ordinal)
    {
        ["us-east-1"] = "US East (N. Virginia)",
        ["eu-west-1"] = "Europe (Ireland)",
        ["ap-northeast-1"] = "Asia Pacific (Tokyo)",
    };

    public static IReadOnlyList<TableRow> Of(Invoice invoice)
    {
        var rows = new List<TableRow>();
        string? region = null;
        foreach (var line in invoice.Lines)
        {
            if (line.Region != region)
            {
                region = line.Region;
                rows.Add(new TableRow(true, RegionTitle(region)));
            }
            rows.Add(new TableRow(false, Description(line), Quantity(line), line.Unit, Money.FormatRate(line.Rate), Amount(line.Amount)));
        }
        return rows;
    }

    public static string RegionTitle(string region) =>
        RegionNames.TryGetValue(region, out var name) ? $"{name} · {region}" : $"Region {region}";

    public static string Description(InvoiceLine line)
    {
        var what = line.Kind switch
        {
            LineKind.EndpointHours => $"{TypeName(line.EndpointType)} endpoint-hours, {line.AzId}",
            LineKind.DataProcessing => $"Data processing, {PoolName(line.Pool)}, tier {line.Tier}",
            LineKind.CrossAzOut => "Data transfer cross-AZ out",
            LineKind.CrossAzIn => "Data transfer cross-AZ in",
            _ => line.Kind.Wire(),
        };
        return line.Adjusts is { } period ? $"Adjustment for {period}: {what}" : what;
    }

    /// <summary>"744" for hours, "1,048,576.000000001" for GB.</summary>
    public static string Quantity(InvoiceLine line) =>
        line.Quantity.ToString(line.Kind == LineKind.EndpointHours ? "#,##0.#########" : "#,##0.000000000", Invariant);

    /// <summary>"1,234.56", "-0.05".</summary>
    public static string Amount(decimal amount) => amount.ToString("#,##0.00", Invariant);

    static string TypeName(EndpointType? type) => type switch
    {
        EndpointType.GatewayLoadBalancer => "Gateway Load Balancer",
        { } t => t.ToString(),
        null => "",
    };

    static string PoolName(string? pool) =>
        Enum.TryParse<EndpointType>(pool, out var type) ? TypeName(type) : pool ?? "";
}
