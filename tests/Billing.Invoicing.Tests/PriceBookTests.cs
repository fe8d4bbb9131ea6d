using Billing.Events;
using Billing.Metering;

namespace Billing.Invoicing.Tests;

public class PriceBookTests
{
    const string Tiers = """
        "dataProcessing": {
          "Interface": [ { "upToGb": 1048576, "rate": 0.01 }, { "upToGb": 5242880, "rate": 0.006 }, { "rate": 0.004 } ],
          "GatewayLoadBalancer": [ { "rate": 0.0035 } ],
          "Resource": [ { "upToGb": 1048576, "rate": 0.01 }, { "upToGb": 5242880, "rate": 0.006 }, { "rate": 0.004 } ]
        }
        """;

    static string Version(string from, string hourly = "0.01", string tiers = Tiers, string crossAz = "0.01") => $$"""
        { "effectiveFrom": "{{from}}",
          "hourly": { "Interface": {{hourly}}, "GatewayLoadBalancer": {{hourly}}, "Resource": {{hourly}} },
          {{tiers}},
          "crossAzPerGb": {{crossAz}} }
        """;

    static string Book(params string[] versions) => $$"""{ "regions": { "x": [ {{string.Join(",", versions)}} ] } }""";

    static string Error(string json) => Assert.Throws<PriceBookException>(() => PriceBook.Load(json)).Message;

    [Fact]
    public void The_default_book_is_spec_section_6()
    {
        var book = PriceBook.Default;
        Assert.Equal(["ap-northeast-1", "eu-west-1", "us-east-1"], book.Regions);

        var us = book.For("us-east-1", new BillingPeriod(2026, 10));
        Assert.Equal(new BillingPeriod(2019, 1), us.EffectiveFrom);
        Assert.Equal(0.01m, us.HourlyRate(EndpointType.Interface));
        Assert.Equal(0.01m, us.HourlyRate(EndpointType.GatewayLoadBalancer));
        Assert.Equal(0.01m, us.HourlyRate(EndpointType.Resource));
        Assert.Equal(0.01m, us.CrossAzPerGb);
        Assert.Equal(0.011m, book.For("eu-west-1", new BillingPeriod(2026, 10)).HourlyRate(EndpointType.Resource));
        Assert.Equal(0.014m, book.For("ap-northeast-1", new BillingPeriod(2026, 10)).HourlyRate(EndpointType.GatewayLoadBalancer));

        foreach (var region in book.Regions)
        {
            var v = book.For(region, new BillingPeriod(2019, 1));
            foreach (var pool in new[] { "Interface", "Resource" })
                Assert.Equal(
                    [new PriceTier(1_048_576m, 0.01m), new PriceTier(5_242_880m, 0.006m), new PriceTier(null, 0.004m)],
                    v.Processing(pool).Tiers);
            Assert.Equal([new PriceTier(null, 0.0035m)], v.Processing("GatewayLoadBalancer").Tiers);
        }
    }

    [Fact]
    public void Gateway_endpoints_have_no_price()
    {
        var v = PriceBook.Default.For("us-east-1", new BillingPeriod(2026, 10));
        var e = Assert.Throws<PriceBookException>(() => v.HourlyRate(EndpointType.Gateway));
        Assert.Equal("price book: region 'us-east-1' version 2019-01: no hourly rate for Gateway endpoints", e.Message);
    }

    [Fact]
    public void The_shipped_file_loads_from_a_path_and_equals_the_embedded_default()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "pricebook.json");
        var fromFile = PriceBook.LoadFile(path);
        Assert.Equal(PriceBook.Default.Regions, fromFile.Regions);
        var a = PriceBook.Default.For("eu-west-1", new BillingPeriod(2026, 1));
        var b = fromFile.For("eu-west-1", new BillingPeriod(2026, 1));
        Assert.Equal(a.Hourly, b.Hourly);
        Assert.Equal(a.CrossAzPerGb, b.CrossAzPerGb);
    }

    [Fact]
    public void A_missing_file_is_a_clear_error()
    {
        var e = Assert.Throws<PriceBookException>(() => PriceBook.LoadFile("/nonexistent/pricebook.json"));
        Assert.StartsWith("price book /nonexistent/pricebook.json: cannot be read:", e.Message);
    }

    [Fact]
    public void The_version_in_effect_is_the_latest_that_started_at_or_before_the_period()
    {
        var book = PriceBook.Load(Book(Version("2026-10", hourly: "0.02"), Version("2019-01")));
        Assert.Equal(0.01m, book.For("x", new BillingPeriod(2019, 1)).HourlyRate(EndpointType.Interface));
        Assert.Equal(0.01m, book.For("x", new BillingPeriod(2026, 9)).HourlyRate(EndpointType.Interface));
        Assert.Equal(0.02m, book.For("x", new BillingPeriod(2026, 10)).HourlyRate(EndpointType.Interface));
        Assert.Equal(0.02m, book.For("x", new BillingPeriod(2030, 1)).HourlyRate(EndpointType.Interface));
        Assert.Equal([new BillingPeriod(2019, 1), new BillingPeriod(2026, 10)], book.Versions("x").Select(v => v.EffectiveFrom));
    }

    [Fact]
    public void No_version_or_no_region_is_a_clear_error()
    {
        var book = PriceBook.Default;
        Assert.Null(book.Find("us-east-1", new BillingPeriod(2018, 12)));
        Assert.Null(book.Find("sa-east-1", new BillingPeriod(2026, 10)));
        Assert.Equal("price book: region 'us-east-1' has no version in effect for 2018-12 (its first version starts 2019-01)",
            Assert.Throws<PriceBookException>(() => book.For("us-east-1", new BillingPeriod(2018, 12))).Message);
        Assert.Equal("price book: no prices for region 'sa-east-1' (regions: ap-northeast-1, eu-west-1, us-east-1)",
            Assert.Throws<PriceBookException>(() => book.For("sa-east-1", new BillingPeriod(2026, 10))).Message);
    }

    [Fact]
    public void Tier_bounds_must_increase()
    {
        var tiers = """
            "dataProcessing": {
              "Interface": [ { "upToGb": 1048576, "rate": 0.01 }, { "upToGb": 1000, "rate": 0.006 }, { "rate": 0.004 } ],
              "GatewayLoadBalancer": [ { "rate": 0.0035 } ],
              "Resource": [ { "upToGb": 1048576, "rate": 0.01 }, { "rate": 0.004 } ]
            }
            """;
        Assert.Equal(
            "price book: region 'x' version 2026-10: dataProcessing 'Interface' tier 2: upToGb must be greater than tier 1 (1000 <= 1048576)",
            Error(Book(Version("2026-10", tiers: tiers))));
    }

    [Theory]
    [InlineData("""[ { "upToGb": 100, "rate": 0.01 } ]""",
        "price book: region 'x' version 2026-10: dataProcessing 'Interface' tier 1: the last tier must have no upToGb (it takes everything above the previous tier)")]
    [InlineData("""[ { "rate": 0.01 }, { "rate": 0.004 } ]""",
        "price book: region 'x' version 2026-10: dataProcessing 'Interface' tier 1: upToGb is required on every tier but the last")]
    [InlineData("""[ { "upToGb": 0, "rate": 0.01 }, { "rate": 0.004 } ]""",
        "price book: region 'x' version 2026-10: dataProcessing 'Interface' tier 1: upToGb must be greater than 0")]
    [InlineData("""[ { "upToGb": 10, "rate": -0.01 }, { "rate": 0.004 } ]""",
        "price book: region 'x' version 2026-10: dataProcessing 'Interface' tier 1: rate must not be negative")]
    [InlineData("""[ { "upTo": 10, "rate": 0.01 }, { "rate": 0.004 } ]""",
        "price book: region 'x' version 2026-10: dataProcessing 'Interface' tier 1: unknown key 'upTo' (expected upToGb, rate)")]
    [InlineData("""[]""",
        "price book: region 'x' version 2026-10: dataProcessing 'Interface': must be a non-empty array of tiers like {\"upToGb\": 1048576, \"rate\": 0.01}")]
    public void Tier_errors_say_where_and_what(string interfaceTiers, string expected)
    {
        var tiers = $$"""
            "dataProcessing": { "Interface": {{interfaceTiers}}, "GatewayLoadBalancer": [ { "rate": 0.0035 } ], "Resource": [ { "rate": 0.01 } ] }
            """;
        var message = Error(Book(Version("2026-10", tiers: tiers)));
        Assert.Contains(expected, message.Split(Environment.NewLine));
    }

    [Fact]
    public void Version_errors_say_where_and_what()
    {
        Assert.Equal("price book: region 'x' version 2026-10: hourly Interface must be a decimal number, got \"ten\"",
            Error(Book(Version("2026-10", hourly: "\"ten\""))).Split(Environment.NewLine)[0]);
        Assert.Equal("price book: region 'x' version 2026-10: crossAzPerGb must not be negative",
            Error(Book(Version("2026-10", crossAz: "-0.01"))));
        Assert.Equal("price book: region 'x' version #1: \"effectiveFrom\" must be a period like \"2019-01\" (versions start at a period)",
            Error(Book(Version("2026-10-15"))));
        Assert.Equal("price book: region 'x': two versions are effective from 2026-10",
            Error(Book(Version("2026-10"), Version("2026-10", hourly: "0.02"))));
        Assert.Equal("price book: region 'x' version 2026-10: hourly: Gateway endpoints are free and take no rate",
            Error(Book(Version("2026-10").Replace("\"Resource\": 0.01 }", "\"Resource\": 0.01, \"Gateway\": 0 }"))));
        Assert.Equal("price book: region 'x' version 2026-10: hourly: missing the rate for Resource",
            Error(Book(Version("2026-10").Replace(", \"Resource\": 0.01 }", " }"))));
        Assert.Equal("price book: region 'x' version 2026-10: unknown key 'crossAz' (expected effectiveFrom, hourly, dataProcessing, crossAzPerGb)",
            Error(Book(Version("2026-10").Replace("\"crossAzPerGb\": 0.01", "\"crossAzPerGb\": 0.01, \"crossAz\": 1"))));
        Assert.Equal("price book: region 'US East': a region name is lower-case letters, digits and '-' (like us-east-1)",
            Error(Book(Version("2026-10")).Replace("\"x\"", "\"US East\"")));
        Assert.Equal("price book: has no regions", Error("""{ "regions": { } }"""));
        Assert.StartsWith("price book: not valid JSON:", Error("""{ "regions": """));
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var e = Assert.Throws<PriceBookException>(() => PriceBook.Load(Book(Version("2026-10", hourly: "-1", crossAz: "-1"))));
        Assert.Equal(4, e.Errors.Count); // three hourly rates and the cross-AZ rate
    }

    [Fact]
    public void Prices_may_be_written_as_strings_and_are_read_exactly()
    {
        var book = PriceBook.Load(Book(Version("2026-10", hourly: "\"0.0123456789012345678\"")));
        Assert.Equal(0.0123456789012345678m, book.For("x", new BillingPeriod(2026, 10)).HourlyRate(EndpointType.Interface));
    }
}
