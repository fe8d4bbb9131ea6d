using Billing.Events;
using Billing.Metering;

namespace Billing.Invoicing;

/// <summary>
/// The prices of one region from the start of <see cref="EffectiveFrom"/> until the next version
/// (spec section 6). A version always starts at a period, so a price never changes mid-period.
/// Gateway endpoints have no prices: they are free by rule (spec section 2).
/// </summary>
public sealed record PriceBookVersion(
    string Region,
    BillingPeriod EffectiveFrom,
    IReadOnlyDictionary<EndpointType, decimal> Hourly,
    IReadOnlyDictionary<string, TierSchedule> DataProcessing,
    decimal CrossAzPerGb)
{
    public decimal HourlyRate(EndpointType type) =>
        Hourly.TryGetValue(type, out var rate)
            ? rate
            : throw new PriceBookException($"price book: region '{Region}' version {EffectiveFrom}: no hourly rate for {type} endpoints");

    public TierSchedule Processing(string pool) =>
        DataProcessing.TryGetValue(pool, out var schedule)
            ? schedule
            : throw new PriceBookException($"price book: region '{Region}' version {EffectiveFrom}: no data-processing prices for pool '{pool}'");
}
