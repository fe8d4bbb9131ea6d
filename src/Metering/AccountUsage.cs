using Billing.Events;

namespace Billing.Metering;

/// <summary>
/// What an account is charged for in one period: endpoint-hours and data processed as payer,
/// cross-AZ transfer as owner (spec sections 2-5). Gateway endpoints are included here (they are
/// metered) and left off invoices.
/// </summary>
public sealed record AccountUsage(
    string AccountId,
    BillingPeriod Period,
    IReadOnlyList<EndpointHoursUsage> EndpointHours,
    IReadOnlyList<DataProcessedUsage> DataProcessed,
    IReadOnlyList<CrossAzUsage> CrossAz)
{
    public static AccountUsage Empty(string accountId, BillingPeriod period) => new(accountId, period, [], [], []);
}

public sealed record EndpointHoursUsage(string Region, EndpointType EndpointType, string AzId, int Hours);

public sealed record DataProcessedUsage(string Region, string Pool, decimal Bytes)
{
    public decimal Gb => Gigabytes.FromBytes(Bytes);
}

public sealed record CrossAzUsage(string Region, decimal Bytes)
{
    public decimal Gb => Gigabytes.FromBytes(Bytes);
}

/// <summary>One account's endpoint-hours and bytes processed (as payer) on one UTC day in one AZ.</summary>
public sealed record DailyAzUsage(NodaTime.LocalDate Day, string AzId, int EndpointHours, decimal Bytes)
{
    public decimal Gb => Gigabytes.FromBytes(Bytes);
}
