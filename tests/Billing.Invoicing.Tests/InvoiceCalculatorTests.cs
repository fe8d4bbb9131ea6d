using Billing.Events;
using Billing.Metering;
using static Billing.Invoicing.Tests.Samples;

namespace Billing.Invoicing.Tests;

public class InvoiceCalculatorTests
{
    static InvoiceContent Calculate(AccountUsage usage, string country = "DE", IEnumerable<InvoiceLine>? adjustments = null) =>
        InvoiceCalculator.Calculate(usage, PriceBook.Default, country, adjustments);

    static AccountUsage Processed(decimal bytes, string pool = "Interface", string region = "us-east-1") =>
        Usage(processed: [new DataProcessedUsage(region, pool, bytes)]);

    static (int Tier, decimal Gb, decimal Amount)[] Tiers(InvoiceContent c) =>
        c.Lines.Where(l => l.Kind == LineKind.DataProcessing).Select(l => (l.Tier!.Value, l.Quantity, l.Amount)).ToArray();

    [Fact]
    public void Worked_example_of_spec_section_10()
    {
        var c = Calculate(WorkedExample(), "JP");

        Assert.Equal(
            [
                InvoiceLine.EndpointHours("us-east-1", EndpointType.Interface, "use1-az1", 744, 0.01m),
                InvoiceLine.DataProcessing("us-east-1", "Interface", 1, 12.5m, 0.01m),
                InvoiceLine.CrossAzOut("us-east-1", 5m, 0.01m),
                InvoiceLine.CrossAzIn("us-east-1", 5m, 0.01m),
            ],
            c.Lines);
        Assert.Equal([7.44m, 0.13m, 0.05m, 0.05m], c.Lines.Select(l => l.Amount));
        Assert.Equal(7.67m, c.Subtotal);
        Assert.Equal("JP", c.TaxCountry);
        Assert.Equal(0.10m, c.TaxRate);
        Assert.Equal(0.77m, c.Tax);
        Assert.Equal(8.44m, c.Total);
        Assert.Equal("USD", c.Currency);
        Assert.True(c.IsDue);
    }

    [Fact]
    public void Tier_1_ends_exactly_at_1048576_GB()
    {
        Assert.Equal([(1, 1_048_576m, 10_485.76m)], Tiers(Calculate(Processed(Bytes(1_048_576m)))));
        Assert.Equal([(1, 1_048_576m, 10_485.76m), (2, 0.000000001m, 0m)], Tiers(Calculate(Processed(Bytes(1_048_576m) + 1))));
    }

    [Fact]
    public void Tier_2_ends_exactly_at_5242880_GB()
    {
        Assert.Equal([(1, 1_048_576m, 10_485.76m), (2, 4_194_304m, 25_165.82m)], Tiers(Calculate(Processed(Bytes(5_242_880m)))));
        Assert.Equal(
            [(1, 1_048_576m, 10_485.76m), (2, 4_194_304m, 25_165.82m), (3, 0.000000001m, 0m)],
            Tiers(Calculate(Processed(Bytes(5_242_880m) + 1))));
        Assert.Equal(
            [(1, 1_048_576m, 10_485.76m), (2, 4_194_304m, 25_165.82m), (3, 1_000_000m, 4_000m)],
            Tiers(Calculate(Processed(Bytes(6_242_880m)))));
    }

    [Fact]
    public void Pools_are_tiered_separately_per_region()
    {
        var c = Calculate(Usage(processed:
        [
            new DataProcessedUsage("us-east-1", "Interface", Bytes(1_048_576m)),
            new DataProcessedUsage("us-east-1", "Resource", Bytes(10m)),
            new DataProcessedUsage("eu-west-1", "Interface", Bytes(10m)),
        ]));
        Assert.Equal(
            [("eu-west-1", "Interface", 1, 10m), ("us-east-1", "Interface", 1, 1_048_576m), ("us-east-1", "Resource", 1, 10m)],
            c.Lines.Select(l => (l.Region, l.Pool!, l.Tier!.Value, l.Quantity)));
    }

    [Fact]
    public void Bytes_of_one_pool_are_summed_before_they_become_GB()
    {
        // 8 x 1 byte = 8 bytes = 7.45e-9 GB -> 0.000000007, not 8 x 0.000000001 (1 byte = 9.3e-10 GB rounded up).
        var c = Calculate(Usage(processed: Enumerable.Repeat(new DataProcessedUsage("us-east-1", "Interface", 1), 8)));
        Assert.Equal(0.000000007m, Assert.Single(c.Lines).Quantity);
    }

    [Fact]
    public void Gateway_load_balancer_processing_is_one_flat_line()
    {
        var c = Calculate(Processed(Bytes(6_000_000m), pool: "GatewayLoadBalancer"));
        var line = Assert.Single(c.Lines);
        Assert.Equal(("GatewayLoadBalancer", 1, 6_000_000m, 0.0035m, 21_000m), (line.Pool, line.Tier, line.Quantity, line.Rate, line.Amount));
    }

    [Fact]
    public void Gateway_endpoints_never_appear()
    {
        var c = Calculate(Usage(
            hours: [new EndpointHoursUsage("us-east-1", EndpointType.Gateway, "use1-az1", 744)],
            processed: [new DataProcessedUsage("us-east-1", "Gateway", Bytes(100m))]));
        Assert.Empty(c.Lines);
        Assert.False(c.IsDue);
        Assert.Equal(0m, c.Total);
    }

    [Fact]
    public void Lines_are_rounded_half_away_from_zero_to_cents()
    {
        // 0.5 GB x 0.01 = 0.005 -> 0.01; 1.5 GB x 0.01 = 0.015 -> 0.02; 0.4999... GB -> 0.00
        Assert.Equal([0.01m, 0.01m], Calculate(Usage(crossAz: [new CrossAzUsage("us-east-1", Bytes(0.5m))])).Lines.Select(l => l.Amount));
        Assert.Equal([0.02m, 0.02m], Calculate(Usage(crossAz: [new CrossAzUsage("us-east-1", Bytes(1.5m))])).Lines.Select(l => l.Amount));
        Assert.Equal(0.00m, Calculate(Processed(Bytes(0.499999999m))).Lines[0].Amount);
        // 1 h x 0.005 and 1 h x 0.015 with a price book that has such rates
        Assert.Equal(0.01m, InvoiceLine.EndpointHours("x", EndpointType.Interface, "a", 1, 0.005m).Amount);
        Assert.Equal(0.02m, InvoiceLine.EndpointHours("x", EndpointType.Interface, "a", 1, 0.015m).Amount);
        Assert.Equal(0.15m, InvoiceLine.EndpointHours("x", EndpointType.Interface, "a", 11, 0.014m).Amount); // 0.154
    }

    [Fact]
    public void The_subtotal_is_the_sum_of_rounded_lines()
    {
        // Three lines of 0.005 each: rounded lines 0.01 x 3 = 0.03 (not round(0.015) = 0.02).
        var c = Calculate(Usage(processed:
        [
            new DataProcessedUsage("us-east-1", "Interface", Bytes(0.5m)),
            new DataProcessedUsage("us-east-1", "Resource", Bytes(0.5m)),
            new DataProcessedUsage("eu-west-1", "Interface", Bytes(0.5m)),
        ]));
        Assert.Equal(0.03m, c.Subtotal);
    }

    [Theory]
    [InlineData(2019, 9, 0.08, 0.61, 8.28)]  // 7.67 x 8% = 0.6136
    [InlineData(2019, 10, 0.10, 0.77, 8.44)] // 7.67 x 10% = 0.767
    [InlineData(2026, 10, 0.10, 0.77, 8.44)]
    public void Japan_consumption_tax_is_8_percent_before_2019_10_and_10_percent_from_it(int year, int month, double rate, double tax, double total)
    {
        var c = Calculate(WorkedExample(new BillingPeriod(year, month)), "JP");
        Assert.Equal(7.67m, c.Subtotal);
        Assert.Equal((decimal)rate, c.TaxRate);
        Assert.Equal((decimal)tax, c.Tax);
        Assert.Equal((decimal)total, c.Total);
    }

    [Theory]
    [InlineData("DE")]
    [InlineData("US")]
    [InlineData("jp ")] // normalised: still Japan
    public void Tax_by_country(string country)
    {
        var c = Calculate(WorkedExample(), country);
        var japan = country.Trim().Equals("JP", StringComparison.OrdinalIgnoreCase);
        Assert.Equal(japan ? 0.77m : 0m, c.Tax);
        Assert.Equal(japan ? 8.44m : 7.67m, c.Total);
        Assert.Equal(country.Trim().ToUpperInvariant(), c.TaxCountry);
    }

    [Fact]
    public void Tax_is_rounded_once_half_away_from_zero()
    {
        Assert.Equal(0.01m, TaxRules.Tax(0.05m, 0.10m));   // 0.005
        Assert.Equal(-0.01m, TaxRules.Tax(-0.05m, 0.10m)); // -0.005
        Assert.Equal(0.04m, TaxRules.Tax(0.45m, 0.08m));   // 0.036
    }

    [Fact]
    public void A_country_that_is_not_alpha_2_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Calculate(WorkedExample(), "JPN"));
        Assert.StartsWith("tax country 'JPN' is not an ISO 3166-1 alpha-2 code", e.Message);
    }

    [Fact]
    public void An_invoice_may_total_zero()
    {
        // One hour of an endpoint with a free hourly rate is billable quantity at $0.00.
        var book = PriceBook.Load(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "pricebook.json"))
            .Replace("\"Interface\": 0.01,", "\"Interface\": 0,"));
        var c = InvoiceCalculator.Calculate(
            Usage(hours: [new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az1", 1)],
                processed: [new DataProcessedUsage("us-east-1", "Interface", 1)]),
            book, "JP");
        Assert.True(c.IsDue);
        Assert.Equal(2, c.Lines.Count);
        Assert.All(c.Lines, l => Assert.Equal(0m, l.Amount));
        Assert.Equal((0m, 0m, 0m), (c.Subtotal, c.Tax, c.Total));
    }

    [Fact]
    public void Cross_AZ_is_charged_in_each_direction_at_the_regions_rate()
    {
        var c = Calculate(Usage(crossAz: [new CrossAzUsage("ap-northeast-1", Bytes(250m))]));
        Assert.Equal(
            [(LineKind.CrossAzOut, 250m, 0.01m, 2.50m), (LineKind.CrossAzIn, 250m, 0.01m, 2.50m)],
            c.Lines.Select(l => (l.Kind, l.Quantity, l.Rate, l.Amount)));
    }

    [Fact]
    public void Hours_are_priced_per_region_type_and_AZ()
    {
        var c = Calculate(Usage(hours:
        [
            new EndpointHoursUsage("eu-west-1", EndpointType.Resource, "euw1-az2", 10),
            new EndpointHoursUsage("eu-west-1", EndpointType.GatewayLoadBalancer, "euw1-az1", 744),
            new EndpointHoursUsage("eu-west-1", EndpointType.Interface, "euw1-az3", 1),
            new EndpointHoursUsage("eu-west-1", EndpointType.Interface, "euw1-az1", 0),
        ]));
        Assert.Equal(
            [
                (EndpointType.Interface, "euw1-az3", 1m, 0.011m, 0.01m),
                (EndpointType.GatewayLoadBalancer, "euw1-az1", 744m, 0.011m, 8.18m), // 8.184
                (EndpointType.Resource, "euw1-az2", 10m, 0.011m, 0.11m),
            ],
            c.Lines.Select(l => (l.EndpointType!.Value, l.AzId!, l.Quantity, l.Rate, l.Amount)));
    }

    [Fact]
    public void Lines_are_ordered_by_region_then_hours_processing_out_in_then_adjustments()
    {
        var usage = Usage(
            hours: [new EndpointHoursUsage("us-east-1", EndpointType.Resource, "use1-az1", 1), new EndpointHoursUsage("eu-west-1", EndpointType.Interface, "euw1-az1", 1)],
            processed: [new DataProcessedUsage("us-east-1", "Resource", Bytes(1m)), new DataProcessedUsage("us-east-1", "Interface", Bytes(1m))],
            crossAz: [new CrossAzUsage("us-east-1", Bytes(1m))]);
        var adjustment = InvoiceLine.Adjustment(new BillingPeriod(2026, 9),
            InvoiceLine.EndpointHours("us-east-1", EndpointType.Interface, "use1-az1", 0, 0.01m), -24, -0.24m);
        var c = Calculate(usage, adjustments: [adjustment]);
        Assert.Equal(
            [
                "eu-west-1 endpoint-hours Interface",
                "us-east-1 endpoint-hours Resource",
                "us-east-1 data-processing Interface",
                "us-east-1 data-processing Resource",
                "us-east-1 cross-az-out ",
                "us-east-1 cross-az-in ",
                "us-east-1 adjustment Interface",
            ],
            c.Lines.Select(l => $"{l.Region} {l.WireKind} {l.EndpointType?.ToString() ?? l.Pool}"));
    }

    [Fact]
    public void Adjustments_are_added_as_given_and_may_be_negative()
    {
        var sept = new BillingPeriod(2026, 9);
        var adjustment = InvoiceLine.Adjustment(sept,
            InvoiceLine.EndpointHours("us-east-1", EndpointType.Interface, "use1-az1", 0, 0.01m), -744, -7.44m);
        var c = Calculate(Usage(), "JP", [adjustment]);
        Assert.True(c.IsDue);
        Assert.Equal((-7.44m, -0.74m, -8.18m), (c.Subtotal, c.Tax, c.Total));

        Assert.Throws<ArgumentException>(() => Calculate(Usage(), "JP", [adjustment with { Adjusts = null }]));
        Assert.Throws<ArgumentException>(() => Calculate(Usage(), "JP", [adjustment with { Adjusts = October2026 }]));
    }

    [Fact]
    public void Adjustments_between_an_invoiced_and_a_recomputed_period_are_per_line_differences()
    {
        var sept = new BillingPeriod(2026, 9);
        var invoiced = Calculate(WorkedExample(sept)).Lines;
        var recomputed = Calculate(Usage(sept,
            hours: [new EndpointHoursUsage("us-east-1", EndpointType.Interface, "use1-az1", 720)],
            processed: [new DataProcessedUsage("us-east-1", "Interface", 13_421_772_800m)],
            crossAz: [new CrossAzUsage("us-east-1", Bytes(6m))])).Lines;
        var adjustments = InvoiceAdjustments.Between(sept, invoiced, recomputed);
        Assert.Equal(
            [
                ("endpoint-hours", -24m, -0.24m),
                ("cross-az-out", 1m, 0.01m),
                ("cross-az-in", 1m, 0.01m),
            ],
            adjustments.Select(a => (a.Kind.Wire(), a.Quantity, a.Amount)));
        Assert.All(adjustments, a => Assert.Equal(sept, a.Adjusts));

        var next = Calculate(WorkedExample(), "DE", adjustments);
        Assert.Equal(7.67m - 0.22m, next.Total);
    }

    [Fact]
    public void A_region_without_prices_is_a_clear_error()
    {
        var e = Assert.Throws<PriceBookException>(() => Calculate(Processed(1, region: "sa-east-1")));
        Assert.StartsWith("price book: no prices for region 'sa-east-1'", e.Message);
    }
}
