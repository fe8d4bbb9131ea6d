using Billing.Events;
using NodaTime;

namespace Billing.Metering.Accounts;

/// <summary>
/// A customer account as invoices need it: name, and its billing addresses over time (tax
/// follows the country in effect at the period end). Built by an inline projection of the
/// account's stream.
/// </summary>
public sealed class AccountProfile
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public Instant OpenedAt { get; set; }

    /// <summary>When the service recorded the opening; null for accounts stored before it did.</summary>
    public Instant? OpenedRecordedAt { get; set; }

    /// <summary>Since when the service has known the account: closes before this could not invoice it.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Instant KnownSince => OpenedRecordedAt ?? OpenedAt;
    public List<DatedAddress> Addresses { get; set; } = [];

    public sealed record DatedAddress(Instant At, BillingAddress Address);

    public static AccountProfile Create(AccountOpened e) => new()
    {
        Id = e.AccountId,
        Name = e.Name,
        OpenedAt = e.At,
        OpenedRecordedAt = e.RecordedAt,
        Addresses = [new(e.At, e.BillingAddress)],
    };

    public void Apply(AccountAddressChanged e) => Addresses.Add(new(e.At, e.BillingAddress));

    /// <summary>The billing address in effect at <paramref name="at"/> (the earliest one before the account opened).</summary>
    public BillingAddress AddressAt(Instant at) =>
        Addresses.OrderBy(a => a.At).LastOrDefault(a => a.At <= at)?.Address ?? Addresses.OrderBy(a => a.At).First().Address;
}
