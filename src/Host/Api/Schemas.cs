using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using Billing.Events;
using Billing.Metering.Ingestion;
using NodaTime;

namespace Billing.Host.Api;

// The types of the OpenAPI document's schemas. Most routes write their JSON by hand (the invoice
// as issued, byte for byte; the usage and dead letters as JsonObjects), so these types describe that
// JSON rather than produce it; tests/Billing.Tests/Api checks real answers against the document.

/// <summary>The string values a property takes, as an enum in its schema.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class WireValuesAttribute : Attribute
{
    public WireValuesAttribute(params string[] values) => Values = values;

    /// <summary>The names of <paramref name="enumType"/>'s members, lower-cased if asked.</summary>
    public WireValuesAttribute(Type enumType, bool lowerCase = false) =>
        Values = Enum.GetNames(enumType).Select(n => lowerCase ? n.ToLowerInvariant() : n).ToArray();

    public IReadOnlyList<string> Values { get; }
}

/// <summary>Patterns of the decimal strings (spec section 10: decimals are JSON strings, never floats).</summary>
static class Decimals
{
    public const string Money = @"^-?[0-9]+\.[0-9]{2}$";
    public const string Rate = @"^-?[0-9]+\.[0-9]{2,12}$";
    public const string Gigabytes = @"^-?[0-9]+\.[0-9]{9}$";
    public const string Quantity = @"^-?[0-9]+(\.[0-9]+)?$";
}

[Description("An error: what was wrong with the request, or why it cannot be answered now.")]
public sealed class ApiError
{
    public required string Error { get; init; }
}

[Description("What became of each record of a POST /api/usage/events batch.")]
public sealed class PostUsageAnswer
{
    public required int Accepted { get; init; }
    public required int Duplicates { get; init; }
    public required int Rejected { get; init; }
    [Description("Records waiting for an event in flight (say, their endpoint.created); decided within the retry window.")]
    public required int Pending { get; init; }
    public required IReadOnlyList<RecordResult> Results { get; init; }
}

[Description("One record's outcome; code and reason only when it was rejected, id only when the record had one.")]
public sealed class RecordResult
{
    [Description("The record's place in the posted array, from 0.")]
    public required int Index { get; init; }
    public string? Id { get; init; }
    [WireValues(typeof(RecordStatus), lowerCase: true)]
    public required string Status { get; init; }
    [Description("The rejection's code, e.g. unknown-endpoint.")]
    public string? Code { get; init; }
    public string? Reason { get; init; }
}

[Description("A usage record of the producers' contract (docs/producers.md); the other keys depend on its type.")]
public sealed class UsageRecordInput
{
    [WireValues("account.opened", "account.address-changed", "endpoint.created", "endpoint.az-added", "endpoint.az-removed",
        "endpoint.accepted", "endpoint.rejected", "endpoint.payer-changed", "endpoint.deleted", "traffic.processed")]
    public required string Type { get; init; }
    [Description("The producer's id of the record: a record sent again with the same id is a duplicate.")]
    public required string Id { get; init; }
    public required Instant At { get; init; }
    [JsonExtensionData]
    public Dictionary<string, object>? Rest { get; init; }
}

[Description("An account's usage in a period: as payer (endpoint hours, data processed), and cross-AZ traffic as owner.")]
public sealed class AccountUsageDocument
{
    public required string AccountId { get; init; }
    [RegularExpression(@"^[0-9]{4}-[0-9]{2}$")]
    public required string Period { get; init; }
    public required IReadOnlyList<EndpointHoursDocument> EndpointHours { get; init; }
    public required IReadOnlyList<DataProcessedDocument> DataProcessed { get; init; }
    public required IReadOnlyList<CrossAzDocument> CrossAz { get; init; }
}

public sealed class EndpointHoursDocument
{
    public required string Region { get; init; }
    [WireValues(typeof(EndpointType))]
    public required string EndpointType { get; init; }
    public required string AzId { get; init; }
    public required long Hours { get; init; }
}

public sealed class DataProcessedDocument
{
    public required string Region { get; init; }
    [Description("The pricing pool: the endpoint type the bytes are charged as.")]
    public required string Pool { get; init; }
    public required long Bytes { get; init; }
    [Description("Gigabytes (2^30 bytes) as a decimal string with 9 places.")]
    [RegularExpression(Decimals.Gigabytes)]
    public required string Gb { get; init; }
}

public sealed class CrossAzDocument
{
    public required string Region { get; init; }
    public required long Bytes { get; init; }
    [Description("Gigabytes (2^30 bytes) as a decimal string with 9 places.")]
    [RegularExpression(Decimals.Gigabytes)]
    public required string Gb { get; init; }
}

[Description("An issued invoice, exactly as issued (invoice JSON v1, spec section 10). Every decimal is a JSON string.")]
public sealed class InvoiceDocument
{
    [RegularExpression(@"^INV-[0-9]{4}-[0-9]{6}$")]
    public required string Number { get; init; }
    public required string AccountId { get; init; }
    [Description("The bill-to name.")]
    public required string Name { get; init; }
    public required BillToDocument BillTo { get; init; }
    [RegularExpression(@"^[0-9]{4}-[0-9]{2}$")]
    public required string Period { get; init; }
    public required Instant IssuedAt { get; init; }
    public required string Currency { get; init; }
    public required IReadOnlyList<InvoiceLineDocument> Lines { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Subtotal { get; init; }
    public required string TaxCountry { get; init; }
    [RegularExpression(Decimals.Rate)]
    public required string TaxRate { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Tax { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Total { get; init; }
    [Description("What the invoice was priced from (docs/provenance.md); absent on invoices issued before provenance.")]
    public ProvenanceDocument? Provenance { get; init; }
}

[Description("An invoice's provenance: the event-store position its usage reflects, the SHA-256 of that usage in canonical form, the price book and the rules' code.")]
public sealed class ProvenanceDocument
{
    [Description("The highest event sequence (seq_id) of the snapshot the usage was read in: recomputing from the events up to it gives the same usage.")]
    public required long EventSequence { get; init; }
    [RegularExpression("^[0-9a-f]{64}$")]
    public required string UsageSha256 { get; init; }
    [RegularExpression("^sha256:[0-9a-f]{64}$")]
    public required string PriceBook { get; init; }
    public required string Rules { get; init; }
}

[Description("What verifying an invoice found: matches is true when the usage recomputed up to its eventSequence hashes to what it recorded, false when not, null without provenance.")]
public sealed class InvoiceVerificationDocument
{
    [RegularExpression(@"^INV-[0-9]{4}-[0-9]{6}$")]
    public required string Number { get; init; }
    public required string AccountId { get; init; }
    [RegularExpression(@"^[0-9]{4}-[0-9]{2}$")]
    public required string Period { get; init; }
    [Description("\"matches: …\", \"differs: …\" or \"no provenance (issued before provenance)\".")]
    public required string Status { get; init; }
    public required bool? Matches { get; init; }
    public required ProvenanceDocument? Provenance { get; init; }
    public required string? ExpectedUsageSha256 { get; init; }
    public required string? ActualUsageSha256 { get; init; }
    public required bool? PriceBookMatches { get; init; }
    public required bool? RulesMatch { get; init; }
    public required PeriodNowDocument Now { get; init; }
}

[Description("The invoice's period with every event known now: how it differs from what was priced, which later invoices carried adjustments of it, and what is still to be charged and by whom.")]
public sealed class PeriodNowDocument
{
    public required string UsageSha256 { get; init; }
    public required IReadOnlyList<UsageDifferenceDocument> Differences { get; init; }
    [Description("The later invoices with adjustment lines of this period.")]
    public required IReadOnlyList<string> CarriedBy { get; init; }
    [Description("null when nothing is left to charge; else \"not yet invoiced: the next close of YYYY-MM carries them\" or \"frozen: outside the late window, never charged\".")]
    public required string? Pending { get; init; }
    [Description("The adjustment lines no invoice has carried yet.")]
    public required IReadOnlyList<InvoiceLineDocument> PendingLines { get; init; }
}

[Description("A usage row that differs: hours, or bytes, as priced and now.")]
public sealed class UsageDifferenceDocument
{
    [WireValues("endpoint-hours", "data-processed", "cross-az")]
    public required string Usage { get; init; }
    public required string Region { get; init; }
    [WireValues(typeof(EndpointType))]
    public string? EndpointType { get; init; }
    public string? AzId { get; init; }
    public string? Pool { get; init; }
    [RegularExpression(Decimals.Quantity)]
    public required string Priced { get; init; }
    [RegularExpression(Decimals.Quantity)]
    public required string Now { get; init; }
}

public sealed class BillToDocument
{
    public required string Line1 { get; init; }
    public required string? Line2 { get; init; }
    public required string City { get; init; }
    public required string? PostalCode { get; init; }
    public required string Country { get; init; }
}

[Description("A line: endpoint-hours lines carry endpointType and azId, data-processing lines pool and tier; an adjustment names the period it adjusts and the kind of line it adjusts (of), with that kind's keys.")]
public sealed class InvoiceLineDocument
{
    [WireValues("endpoint-hours", "data-processing", "cross-az-out", "cross-az-in", "adjustment")]
    public required string Kind { get; init; }
    [RegularExpression(@"^[0-9]{4}-[0-9]{2}$")]
    public string? Adjusts { get; init; }
    [WireValues("endpoint-hours", "data-processing", "cross-az-out", "cross-az-in")]
    public string? Of { get; init; }
    public required string Region { get; init; }
    [WireValues(typeof(EndpointType))]
    public string? EndpointType { get; init; }
    public string? AzId { get; init; }
    public string? Pool { get; init; }
    public int? Tier { get; init; }
    [Description("Hours (\"744\") or GB with 9 places (\"12.500000000\").")]
    [RegularExpression(Decimals.Quantity)]
    public required string Quantity { get; init; }
    [WireValues("hours", "GB")]
    public required string Unit { get; init; }
    [RegularExpression(Decimals.Rate)]
    public required string Rate { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Amount { get; init; }
}

[Description("A rejected record with its reason and its original JSON text.")]
public sealed class DeadLetterDocument
{
    public required Guid Id { get; init; }
    [Description("The record's id, when it had a readable one.")]
    public required string? RecordId { get; init; }
    public required string Code { get; init; }
    public required string Reason { get; init; }
    [Description("The record exactly as it was sent.")]
    public required string Json { get; init; }
    public required Instant ArrivedAt { get; init; }
    public required Instant DeadLetteredAt { get; init; }
    [Description("When it was submitted again (billing dead-letters replay); null if never.")]
    public required Instant? ReplayedAt { get; init; }
    [Description("Who sent the record: key:{id}:{name}, cli:{user} or broker; null for letters older than API keys.")]
    public required string? SentBy { get; init; }
    [Description("The API key that sent it, when a key did.")]
    public required DeadLetterKey? Key { get; init; }
    [Description("Who replayed it: key:{id}:{name} or cli:{user}; null if never.")]
    public required string? ReplayedBy { get; init; }
}

[Description("The API key behind a dead letter.")]
public sealed class DeadLetterKey
{
    public required string Id { get; init; }
    public required string Name { get; init; }
}

[Description("What became of the dead letters submitted again.")]
public sealed record ReplayAnswer(long Replayed, long Accepted, long Duplicates, long Rejected);

[Description("A price book (docs/invoicing.md): per region, versions each effective from a period, with hourly rates, data-processing tiers and the cross-AZ rate.")]
public sealed class PriceBookInput
{
    [Description("Region name (us-east-1) to its versions, oldest first.")]
    public required Dictionary<string, PriceBookVersionInput[]> Regions { get; init; }
}

public sealed class PriceBookVersionInput
{
    [RegularExpression(@"^[0-9]{4}-[0-9]{2}$")]
    public required string EffectiveFrom { get; init; }
    [Description("Endpoint type (Interface, GatewayLoadBalancer, Resource) to its hourly rate.")]
    public required Dictionary<string, decimal> Hourly { get; init; }
    [Description("Pool to its tiers: {\"upToGb\": 1048576, \"rate\": 0.01}, the last without upToGb.")]
    public required Dictionary<string, PriceTierInput[]> DataProcessing { get; init; }
    public required decimal CrossAzPerGb { get; init; }
}

public sealed class PriceTierInput
{
    public decimal? UpToGb { get; init; }
    public required decimal Rate { get; init; }
}

[Description("A what-if re-rating of a period: per account and in total, what is charged (the issued invoice, or without one the current price book) and what the given price book would charge.")]
public sealed class RerateDocument
{
    [RegularExpression(@"^[0-9]{4}-[0-9]{2}$")]
    public required string Period { get; init; }
    public required IReadOnlyList<RerateAccountDocument> Accounts { get; init; }
    public required RerateTotalsDocument Totals { get; init; }
}

public sealed class RerateAccountDocument
{
    public required string AccountId { get; init; }
    public required AmountsDocument Current { get; init; }
    public required AmountsDocument Rerated { get; init; }
    [Description("rerated.total - current.total, with two places.")]
    [RegularExpression(Decimals.Money)]
    public required string Difference { get; init; }
}

public sealed class RerateTotalsDocument
{
    public required AmountsDocument Current { get; init; }
    public required AmountsDocument Rerated { get; init; }
    [Description("rerated.total - current.total over every account, with two places.")]
    [RegularExpression(Decimals.Money)]
    public required string Difference { get; init; }
}

[Description("An invoice's amounts in USD, as strings with two places.")]
public sealed class AmountsDocument
{
    [RegularExpression(Decimals.Money)]
    public required string Subtotal { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Tax { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Total { get; init; }
}

[Description("An account's month-to-date cost and its forecast in a period (docs/spend.md), in USD, decimals as strings with two places.")]
public sealed class SpendDocument
{
    public required string AccountId { get; init; }
    [RegularExpression(@"^[0-9]{4}-[0-9]{2}$")]
    public required string Period { get; init; }
    [WireValues("USD")]
    public required string Currency { get; init; }
    [Description("The instant the cost is read at: now, or for an invoiced period the invoice's issue.")]
    public required Instant AsOf { get; init; }
    [Description("The invoice a close at asOf would issue; once the period is invoiced, that invoice.")]
    public required AmountsDocument Actual { get; init; }
    public required ForecastDocument Forecast { get; init; }
    [Description("The actual's lines, in the invoice's line shape (adjustments of earlier periods included).")]
    public required IReadOnlyList<InvoiceLineDocument> Lines { get; init; }
}

[Description("The cost extended to the period's end: an estimate while the period runs, by the method it names.")]
public sealed class ForecastDocument
{
    [RegularExpression(Decimals.Money)]
    public required string Subtotal { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Tax { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Total { get; init; }
    [Description("How the forecast was made; it begins \"estimate:\" while the period runs.")]
    public required string Method { get; init; }
}

[Description("A budget to set: an amount per period of one account, thresholds in percent of it, the cost it watches.")]
public sealed class BudgetInput
{
    [Description("The account (12 digits); an account key's own when left out.")]
    public string? AccountId { get; init; }
    [Description("USD per period, at most two places: \"100.00\" (a JSON number is read exactly as written).")]
    [RegularExpression(@"^[0-9]+(\.[0-9]{1,2})?$")]
    public required string Amount { get; init; }
    [Description("1-10 distinct whole percentages from 1 to 1000; default [50, 80, 100].")]
    public IReadOnlyList<int>? Thresholds { get; init; }
    [WireValues("actual", "forecast")]
    [Description("actual (the month-to-date cost, tax included) or forecast (its estimate to the period's end); default actual.")]
    public string? Basis { get; init; }
    public string? Name { get; init; }
}

[Description("A budget in force and the alerts it has raised.")]
public sealed class BudgetDocument
{
    public required Guid Id { get; init; }
    public required string AccountId { get; init; }
    public required string? Name { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Amount { get; init; }
    [WireValues("USD")]
    public required string Currency { get; init; }
    public required IReadOnlyList<int> Thresholds { get; init; }
    [WireValues("actual", "forecast")]
    public required string Basis { get; init; }
    public required Instant CreatedAt { get; init; }
    [Description("Who set it: key:{id}:{name} or cli:{user}.")]
    public required string? CreatedBy { get; init; }
    public required IReadOnlyList<BudgetAlertDocument> Alerts { get; init; }
}

[Description("A budget.threshold_crossed alert: raised once per (budget, period, threshold, basis).")]
public sealed class BudgetAlertDocument
{
    [WireValues("budget.threshold_crossed")]
    public required string Type { get; init; }
    [RegularExpression(@"^[0-9]{4}-[0-9]{2}$")]
    public required string Period { get; init; }
    public required int Threshold { get; init; }
    [WireValues("actual", "forecast")]
    public required string Basis { get; init; }
    [RegularExpression(Decimals.Money)]
    public required string Amount { get; init; }
    [Description("The cost on the basis (total, tax included) that reached the threshold.")]
    [RegularExpression(Decimals.Money)]
    public required string Cost { get; init; }
    [WireValues("USD")]
    public required string Currency { get; init; }
    [Description("When the crossing was decided.")]
    public required Instant CrossedAt { get; init; }
    [Description("When the records that set off the reading were decided: crossedAt - triggeredAt bounds the alert's delay.")]
    public required Instant TriggeredAt { get; init; }
}
