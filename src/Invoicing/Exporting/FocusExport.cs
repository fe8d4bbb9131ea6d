using System.Globalization;
using Billing.Events;
using Billing.Metering;

namespace Billing.Invoicing.Exporting;

/// <summary>
/// One row of a FinOps FOCUS 1.2 cost and usage dataset (docs/focus.md): the 21 mandatory columns
/// and those that fit this service. Null where FOCUS requires or allows it. Datetimes are UTC
/// <see cref="DateTime"/>s because both the Parquet writer and the CSV writer need a CLR type they know.
/// </summary>
public sealed class FocusRow
{
    public decimal BilledCost { get; set; }
    public string BillingAccountId { get; set; } = "";
    public string BillingAccountName { get; set; } = "";
    public string BillingCurrency { get; set; } = "";
    public DateTime BillingPeriodStart { get; set; }
    public DateTime BillingPeriodEnd { get; set; }
    public string ChargeCategory { get; set; } = "";
    public string? ChargeClass { get; set; }
    public string ChargeDescription { get; set; } = "";
    public DateTime ChargePeriodStart { get; set; }
    public DateTime ChargePeriodEnd { get; set; }
    public decimal ContractedCost { get; set; }
    public decimal EffectiveCost { get; set; }
    public decimal ListCost { get; set; }
    public decimal? PricingQuantity { get; set; }
    public string? PricingUnit { get; set; }
    public string InvoiceIssuerName { get; set; } = "";
    public string ProviderName { get; set; } = "";
    public string PublisherName { get; set; } = "";
    public string ServiceCategory { get; set; } = "";
    public string ServiceName { get; set; } = "";
    public string InvoiceId { get; set; } = "";
    public string? RegionId { get; set; }
    public string? AvailabilityZone { get; set; }
    public string? ResourceId { get; set; }
    public string? SkuId { get; set; }
    public string? SkuMeter { get; set; }
    public string? SubAccountId { get; set; }
    public decimal? ConsumedQuantity { get; set; }
    public string? ConsumedUnit { get; set; }

    /// <summary>The columns in the order they are written (the property order).</summary>
    public static readonly IReadOnlyList<string> Columns = typeof(FocusRow).GetProperties().Select(p => p.Name).ToList();

    /// <summary>The 21 columns FOCUS 1.2 makes mandatory.</summary>
    public static readonly IReadOnlyList<string> Mandatory =
    [
        "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
        "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodStart", "ChargePeriodEnd", "ContractedCost",
        "EffectiveCost", "ListCost", "PricingQuantity", "PricingUnit", "InvoiceIssuerName", "ProviderName", "PublisherName",
        "ServiceCategory", "ServiceName",
    ];
}

/// <summary>
/// Issued invoices as FOCUS rows (docs/focus.md), pure: one row per invoice line (each tier its own,
/// as on the invoice), and one Tax row per invoice that is taxed, so the BilledCost of an invoice's
/// rows adds up to its total to the cent.
/// </summary>
public static class FocusExport
{
    public const string ServiceName = "PrivateLink";
    public const string ServiceCategory = "Networking";

    /// <summary>The spec's GB is 2^30 bytes: FOCUS's UnitFormat calls that GiB (its GB is 10^9 bytes).</summary>
    public const string GbUnit = "GiB";

    public const string HoursUnit = "Hours";

    /// <summary>AWS's usage-type prefixes of the regions; a region not listed is prefixed with its own name upper-cased.</summary>
    static readonly Dictionary<string, string> RegionPrefixes = new(StringComparer.Ordinal)
    {
        ["us-east-1"] = "USE1", ["us-east-2"] = "USE2", ["us-west-1"] = "USW1", ["us-west-2"] = "USW2",
        ["ca-central-1"] = "CAN1", ["sa-east-1"] = "SAE1",
        ["eu-west-1"] = "EU", ["eu-west-2"] = "EUW2", ["eu-west-3"] = "EUW3", ["eu-central-1"] = "EUC1", ["eu-north-1"] = "EUN1",
        ["ap-northeast-1"] = "APN1", ["ap-northeast-2"] = "APN2", ["ap-northeast-3"] = "APN3",
        ["ap-southeast-1"] = "APS1", ["ap-southeast-2"] = "APS2", ["ap-south-1"] = "APS3",
    };

    public static string RegionPrefix(string region) => RegionPrefixes.GetValueOrDefault(region) ?? region.ToUpperInvariant();

    /// <summary>"USE1-VpcEndpoint-Hours": the AWS usage type of what a line charges.</summary>
    public static string UsageType(InvoiceLine line)
    {
        var endpoint = line.Kind switch
        {
            LineKind.EndpointHours => Endpoint(line.EndpointType?.ToString()),
            LineKind.DataProcessing => Endpoint(line.Pool),
            _ => null,
        };
        var what = line.Kind switch
        {
            LineKind.EndpointHours => $"{endpoint}-Hours",
            LineKind.DataProcessing => $"{endpoint}-Bytes",
            _ => "DataTransfer-Regional-Bytes",
        };
        return $"{RegionPrefix(line.Region)}-{what}";

        // Interface endpoints are AWS's plain "VpcEndpoint"; the other kinds are told apart by a suffix.
        static string Endpoint(string? type) => type switch
        {
            nameof(EndpointType.GatewayLoadBalancer) => "VpcEndpoint-GWLBE",
            nameof(EndpointType.Resource) => "VpcEndpoint-Resource",
            _ => "VpcEndpoint",
        };
    }

    public static IEnumerable<FocusRow> Rows(Invoice invoice, Seller seller)
    {
        foreach (var line in invoice.Lines) yield return Row(invoice, seller, line);
        if (!invoice.TaxApplies) yield break;
        var tax = Base(invoice, seller, invoice.Tax, invoice.Period);
        tax.ChargeCategory = "Tax";
        tax.ChargeDescription = $"Consumption tax {invoice.TaxCountry} {(invoice.TaxRate * 100).ToString("0.##", CultureInfo.InvariantCulture)}% of {Money.Format(invoice.Subtotal)} {invoice.Currency}";
        yield return tax;
    }

    static FocusRow Row(Invoice invoice, Seller seller, InvoiceLine line)
    {
        // An adjustment corrects a period already invoiced: its charge period is that one.
        var row = Base(invoice, seller, line.Amount, line.Adjusts ?? invoice.Period);
        var unit = line.Kind == LineKind.EndpointHours ? HoursUnit : GbUnit;
        var usageType = UsageType(line);
        row.ChargeCategory = "Usage";
        row.ChargeClass = line.IsAdjustment ? "Correction" : null;
        row.ChargeDescription = Description(line);
        row.PricingQuantity = line.Quantity;
        row.PricingUnit = unit;
        row.ConsumedQuantity = line.Quantity;
        row.ConsumedUnit = unit;
        row.RegionId = line.Region;
        row.AvailabilityZone = line.AzId;
        row.SkuMeter = usageType;
        row.SkuId = line.Tier is { } tier ? $"{usageType}-Tier{tier}" : usageType;
        return row;
    }

    static FocusRow Base(Invoice invoice, Seller seller, decimal cost, BillingPeriod chargePeriod) => new()
    {
        // No discounts or commitments: list, contracted, effective and billed cost are the invoice's amount.
        BilledCost = cost,
        ListCost = cost,
        ContractedCost = cost,
        EffectiveCost = cost,
        BillingAccountId = invoice.AccountId,
        BillingAccountName = invoice.Name,
        BillingCurrency = invoice.Currency,
        BillingPeriodStart = invoice.Period.Start.ToDateTimeUtc(),
        BillingPeriodEnd = invoice.Period.End.ToDateTimeUtc(),
        ChargePeriodStart = chargePeriod.Start.ToDateTimeUtc(),
        ChargePeriodEnd = chargePeriod.End.ToDateTimeUtc(),
        InvoiceIssuerName = seller.Name,
        ProviderName = seller.Name,
        PublisherName = seller.Name,
        ServiceCategory = ServiceCategory,
        ServiceName = ServiceName,
        InvoiceId = invoice.Number,
    };

    static string Description(InvoiceLine line)
    {
        var what = line.Kind switch
        {
            LineKind.EndpointHours => $"{line.EndpointType} endpoint-hours in {line.AzId}",
            LineKind.DataProcessing => $"Data processing, {line.Pool} pool, tier {line.Tier}",
            LineKind.CrossAzOut => "Data transfer cross-AZ out",
            _ => "Data transfer cross-AZ in",
        };
        var text = $"{what}, {line.Region}, at {Money.FormatRate(line.Rate)} USD per {(line.Kind == LineKind.EndpointHours ? "hour" : GbUnit)}";
        return line.Adjusts is { } period ? $"Adjustment for {period}: {text}" : text;
    }
}
