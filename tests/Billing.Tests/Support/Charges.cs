using Billing.Events;
using Billing.Invoicing;
using Billing.Metering;
using Billing.Metering.Accounts;
using NodaTime;

namespace Billing.Tests.Support;

/// <summary>Plain data for the pure close and issue decisions: accounts, usage and issued invoices, no database.</summary>
public static class Charges
{
    public static readonly BillingAddress Us = new("1 Main St", null, "Springfield", "12345", "US");
    public static readonly BillingAddress Jp = new("1-2-3 Otemachi", null, "Tokyo", "100-0004", "JP");

    public static AccountProfile Profile(string id, Instant openedAt, BillingAddress? address = null, Instant? recordedAt = null) => new()
    {
        Id = id, Name = $"Account {id}", OpenedAt = openedAt, OpenedRecordedAt = recordedAt ?? openedAt,
        Addresses = [new AccountProfile.DatedAddress(openedAt, address ?? Us)],
    };

    /// <summary>Interface endpoint-hours in one us-east-1 AZ at $0.01 an hour, plus any Gateway hours (metered, never billed).</summary>
    public static AccountUsage Hours(string account, BillingPeriod period, int hours, int gatewayHours = 0) => new(account, period,
        [
            .. hours > 0 ? [new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az1", hours)] : Array.Empty<EndpointHoursUsage>(),
            .. gatewayHours > 0 ? [new EndpointHoursUsage("us-east-1", EndpointType.Gateway, "use1-az2", gatewayHours)] : Array.Empty<EndpointHoursUsage>(),
        ], [], []);

    public static Invoice Issued(AccountUsage usage, string number, Instant issuedAt, IEnumerable<InvoiceLine>? adjustments = null) =>
        Invoice.Issue(InvoiceCalculator.Calculate(usage, PriceBook.Default, "US", adjustments), number, $"Account {usage.AccountId}", Us, issuedAt);
}
