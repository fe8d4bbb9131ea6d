using Billing.Events;
using Billing.Invoicing;
using Billing.Invoicing.Provenance;
using Billing.Metering;
using Billing.Tests.Support;
using NodaTime;

namespace Billing.Tests.Provenance;

/// <summary>The pure parts of provenance: the canonical usage and its hash, the invoice JSON's last key, and the verification's verdicts.</summary>
public class CanonicalUsageTests
{
    static readonly BillingPeriod September = new(2026, 9), October = new(2026, 10);
    const string A = "111122223333";

    static AccountUsage Usage(decimal bytes) => new(A, October,
        [new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az2", 6), new EndpointHoursUsage("eu-west-1", EndpointType.GatewayLoadBalancer, "euw1-az1", 744)],
        [new DataProcessedUsage("us-east-1", "Interface", bytes)],
        [new CrossAzUsage("us-east-1", 8589934592m)]);

    [Fact]
    public void The_canonical_form_sorts_keys_and_rows_and_writes_numbers_as_strings()
    {
        Assert.Equal(
            """{"accountId":"111122223333","periods":[{"crossAz":[],"dataProcessed":[],"endpointHours":[{"azId":"use1-az1","endpointType":"Interface","hours":"1","region":"us-east-1"}],"period":"2026-09"},"""
            + """{"crossAz":[{"bytes":"8589934592","region":"us-east-1"}],"dataProcessed":[{"bytes":"6442450944","pool":"Interface","region":"us-east-1"}],"endpointHours":[{"azId":"euw1-az1","endpointType":"GatewayLoadBalancer","hours":"744","region":"eu-west-1"},{"azId":"use1-az2","endpointType":"Interface","hours":"6","region":"us-east-1"}],"period":"2026-10"}]}""",
            CanonicalUsage.Write(A, [Usage(6442450944m), Charges.Hours(A, September, 1)]));
    }

    [Fact]
    public void The_hash_ignores_the_scale_of_a_decimal_and_the_order_of_rows_but_not_a_byte()
    {
        var usage = Usage(6442450944m);
        var hash = CanonicalUsage.Sha256(A, [usage]);
        Assert.Matches("^[0-9a-f]{64}$", hash);
        Assert.Equal(hash, CanonicalUsage.Sha256(A, [Usage(6442450944.000m)]));
        Assert.Equal(hash, CanonicalUsage.Sha256(A, [usage with { EndpointHours = usage.EndpointHours.Reverse().ToList() }]));
        Assert.NotEqual(hash, CanonicalUsage.Sha256(A, [Usage(6442450945m)]));
        Assert.Equal("0.5", CanonicalUsage.Number(0.50m));
    }

    [Fact]
    public void Provenance_is_the_last_key_of_the_invoice_json_and_the_keys_before_it_are_unchanged()
    {
        var plain = Charges.Issued(Charges.Hours(A, October, 744), "INV-2026-000001", Instant.FromUtc(2026, 11, 2, 0, 0));
        var proven = plain with { Provenance = new InvoiceProvenance(42, new string('a', 64), PriceBook.Default.Fingerprint, "rules") };
        var (without, with) = (InvoiceJson.Write(plain), InvoiceJson.Write(proven));

        Assert.Equal(without[..^1] + $$$""","provenance":{"eventSequence":42,"usageSha256":"{{{new string('a', 64)}}}","priceBook":"{{{PriceBook.Default.Fingerprint}}}","rules":"rules"}}""", with);
        Assert.Equal(with, InvoiceJson.Write(InvoiceJson.Read(with)));
        Assert.Equal(without, InvoiceJson.Write(InvoiceJson.Read(without)));
        Assert.Null(InvoiceJson.Read(without).Provenance);
        Assert.Matches("^sha256:[0-9a-f]{64}$", PriceBook.Default.Fingerprint);
        Assert.StartsWith("Billing.Metering ", Fingerprints.Rules);
    }

    [Fact]
    public void A_difference_no_close_can_carry_any_more_is_frozen_and_one_the_next_close_carries_is_pending()
    {
        var window = LateWindow.Default;
        var june = new BillingPeriod(2026, 6);
        var invoice = Charges.Issued(Charges.Hours(A, june, 10), "INV-2026-000001", Instant.FromUtc(2026, 7, 2, 0, 0))
            with { Provenance = new InvoiceProvenance(7, CanonicalUsage.Sha256(A, [Charges.Hours(A, june, 10)]), PriceBook.Default.Fingerprint, "rules") };
        var now = Charges.Hours(A, june, 12);

        // July, August and September all closed, none with an invoice for A: nobody will ever charge the two hours.
        var frozen = InvoiceVerification.Verify(invoice, [Charges.Hours(A, june, 10)], now, [], new HashSet<BillingPeriod> { new(2026, 7), new(2026, 8), new(2026, 9) },
            Instant.FromUtc(2026, 10, 5, 0, 0), window, PriceBook.Default, "rules");
        Assert.Equal((true, 0), (frozen.Matches, frozen.ExitCode));
        Assert.Equal("frozen: outside the late window, never charged", frozen.Now.Pending);
        Assert.Equal([new UsageDifference("endpoint-hours", "us-east-1", "Interface", "use1-az1", null, 10, 12)], frozen.Now.Differences);
        Assert.Equal(("2026-06", 2m, 0.02m), (frozen.Now.PendingLines.Single().Adjusts.ToString(), frozen.Now.PendingLines.Single().Quantity, frozen.Now.PendingLines.Single().Amount));

        // Only July closed: August's close carries them.
        var pending = InvoiceVerification.Verify(invoice, [Charges.Hours(A, june, 10)], now, [], new HashSet<BillingPeriod> { new(2026, 7) },
            Instant.FromUtc(2026, 8, 5, 0, 0), window, PriceBook.Default, "rules");
        Assert.Equal("not yet invoiced: the next close of 2026-08 carries them", pending.Now.Pending);

        // July's invoice carried them: nothing pending.
        var july = Charges.Issued(Charges.Hours(A, new BillingPeriod(2026, 7), 1), "INV-2026-000002", Instant.FromUtc(2026, 8, 2, 0, 0),
            InvoiceAdjustments.Between(june, invoice.Lines, InvoiceCalculator.Lines(now, PriceBook.Default)));
        var carried = InvoiceVerification.Verify(invoice, [Charges.Hours(A, june, 10)], now, [july], new HashSet<BillingPeriod> { new(2026, 7) },
            Instant.FromUtc(2026, 8, 5, 0, 0), window, PriceBook.Default, "rules");
        Assert.Equal(["INV-2026-000002"], carried.Now.CarriedBy);
        Assert.Null(carried.Now.Pending);

        // A recomputation that is not what was priced.
        var tampered = InvoiceVerification.Verify(invoice, [Charges.Hours(A, june, 11)], now, [july], new HashSet<BillingPeriod>(), Instant.FromUtc(2026, 8, 5, 0, 0), window, PriceBook.Default, "rules");
        Assert.Equal((false, 1), (tampered.Matches, tampered.ExitCode));
        Assert.StartsWith("differs: the usage recomputed from the events up to 7", tampered.Status);

        var old = InvoiceVerification.Verify(invoice with { Provenance = null }, [], now, [], new HashSet<BillingPeriod>(), Instant.FromUtc(2026, 8, 5, 0, 0), window, PriceBook.Default, "rules");
        Assert.Equal(("no provenance (issued before provenance)", (bool?)null, 1), (old.Status, old.Matches, old.ExitCode));
    }
}
