using System.Globalization;
using Billing.Events;
using Billing.Host.Features;
using Billing.Invoicing;
using Billing.Invoicing.Exporting;
using Billing.Metering;
using Billing.Tests.Support;
using CsvHelper;
using NodaTime;
using Parquet.Serialization;

namespace Billing.Tests.Exporting;

/// <summary>The FOCUS export: the pure mapping of an invoice to rows, and the files of real closes on real PostgreSQL.</summary>
public class FocusExportTests
{
    const long GiB = 1L << 30;
    static readonly Seller Seller = Billing.Host.BillingHost.Seller;

    [Fact]
    public void An_invoice_is_a_row_per_line_with_tiers_apart_a_correction_for_an_adjustment_and_a_tax_row()
    {
        var october = new BillingPeriod(2026, 10);
        var usage = new AccountUsage("444455556666", october, [new("eu-west-1", EndpointType.GatewayLoadBalancer, "euw1-az1", 744)],
            [new("us-east-1", "Interface", 1_048_577m * GiB)], [new("ap-northeast-1", GiB)]);
        var adjustment = InvoiceLine.Adjustment(october.Previous, InvoiceLine.EndpointHours("us-east-1", EndpointType.Interface, "use1-az1", 10, 0.01m), -10, -0.10m);
        var content = InvoiceCalculator.Calculate(usage, PriceBook.Default, "JP", [adjustment]);
        var invoice = Invoice.Issue(content, "INV-2026-000007", "株式会社サンプル", new BillingAddress("1 Main St", null, "Tokyo", "100-0001", "JP"), Instant.FromUtc(2026, 11, 2, 0, 0));

        var rows = FocusExport.Rows(invoice, Seller).ToList();

        Assert.Equal([
            "Usage Correction|USE1-VpcEndpoint-Hours||-10 Hours|-0.10|us-east-1|use1-az1",
            "Usage|APN1-DataTransfer-Regional-Bytes||1 GiB|0.01|ap-northeast-1|",
            "Usage|APN1-DataTransfer-Regional-Bytes||1 GiB|0.01|ap-northeast-1|",
            "Usage|EU-VpcEndpoint-GWLBE-Hours||744 Hours|8.18|eu-west-1|euw1-az1",
            "Usage|USE1-VpcEndpoint-Bytes-Tier1|USE1-VpcEndpoint-Bytes|1048576 GiB|10485.76|us-east-1|",
            "Usage|USE1-VpcEndpoint-Bytes-Tier2|USE1-VpcEndpoint-Bytes|1 GiB|0.01|us-east-1|",
            "Tax||| |1049.39||",
        ], rows.Select(r => $"{r.ChargeCategory}{(r.ChargeClass is { } c ? " " + c : "")}|{r.SkuId}|{(r.SkuId != r.SkuMeter ? r.SkuMeter : "")}|{r.PricingQuantity?.ToString("0.#########", CultureInfo.InvariantCulture)} {r.PricingUnit}|{r.BilledCost.ToString(CultureInfo.InvariantCulture)}|{r.RegionId}|{r.AvailabilityZone}")
            .OrderBy(r => r.StartsWith("Tax", StringComparison.Ordinal)).ThenBy(r => r, StringComparer.Ordinal));
        Assert.Equal(invoice.Total, rows.Sum(r => r.BilledCost));
        var correction = rows.Single(r => r.ChargeClass == "Correction");
        Assert.Equal((new DateTime(2026, 9, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2026, 10, 1, 0, 0, 0, DateTimeKind.Utc)),
            (correction.ChargePeriodStart, correction.ChargePeriodEnd, correction.BillingPeriodStart));
        Assert.Equal("Adjustment for 2026-09: Interface endpoint-hours in use1-az1, us-east-1, at 0.01 USD per hour", correction.ChargeDescription);
        Assert.Equal("Consumption tax JP 10% of 10493.87 USD", rows[^1].ChargeDescription);
    }

    [Fact]
    public async Task The_csv_and_parquet_of_real_invoices_add_up_to_each_invoice_and_carry_every_mandatory_column()
    {
        await using var host = await BillingTestHost.StartAsync(now: Instant.FromUtc(2026, 11, 2, 0, 0));
        await host.ImportAsync([.. OctoberScenario.Lines, Records.Opened("s-b", "2026-09-15T00:00:00Z", OctoberScenario.B, "株式会社サンプル", "JP")]);
        await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 10), CancellationToken.None);
        // Late October records, so November's invoice of A carries corrections.
        host.Clock.Set(Instant.FromUtc(2026, 11, 5, 0, 0));
        await host.ImportAsync([Records.Traffic("late-1", "2026-10-01T11:30:00Z", OctoberScenario.E1, "use1-az1", "use1-az2", 4 * GiB), Records.Deleted("late-2", "2026-10-31T12:00:00Z", OctoberScenario.E2)]);
        host.Clock.Set(Instant.FromUtc(2026, 12, 2, 0, 0));
        var november = await CloseCommand.CloseAsync(host.Services, new BillingPeriod(2026, 11), CancellationToken.None);
        Assert.Contains(november, i => i.Json.Contains("\"adjustment\"", StringComparison.Ordinal));

        var dir = Directory.CreateTempSubdirectory("focus-").FullName;
        try
        {
            foreach (var period in new[] { "2026-10", "2026-11" })
            {
                var csvFile = Path.Combine(dir, $"{period}.csv");
                var parquetFile = Path.Combine(dir, $"{period}.parquet");
                Assert.Equal(0, await ExportFocus.RunAsync(host.Services, new ExportFocus.Settings { Period = period, Out = csvFile }, CancellationToken.None));
                Assert.Equal(0, await ExportFocus.RunAsync(host.Services, new ExportFocus.Settings { Period = period, Out = parquetFile, Format = "parquet" }, CancellationToken.None));

                var rows = new List<Dictionary<string, string>>();
                string[] header;
                using (var csv = CsvReader.Create(new StreamReader(csvFile), null, false))
                {
                    csv.ReadHeader();
                    header = csv.Headers.ToArray();
                    foreach (var row in csv)
                    {
                        var fields = row.ToArray();
                        rows.Add(header.Select((h, i) => (h, fields[i] ?? "")).ToDictionary(f => f.h, f => f.Item2));
                    }
                }
                Assert.Empty(FocusRow.Mandatory.Except(header));
                Assert.Equal(FocusRow.Columns, header);
                Assert.NotEmpty(rows);

                // FOCUS's nullability: these never null; PricingQuantity/Unit not null for usage that is no correction, null for tax.
                string[] neverNull = ["BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd", "ChargeCategory",
                    "ChargeDescription", "ChargePeriodStart", "ChargePeriodEnd", "ContractedCost", "EffectiveCost", "ListCost", "InvoiceIssuerName", "ProviderName",
                    "PublisherName", "ServiceCategory", "ServiceName"];
                foreach (var row in rows)
                {
                    Assert.All(neverNull, c => Assert.False(string.IsNullOrEmpty(row[c]), $"{c} is empty in {string.Join(",", row.Values)}"));
                    Assert.Contains(row["ChargeCategory"], new[] { "Usage", "Tax" });
                    Assert.Contains(row["ChargeClass"], new[] { "", "Correction" });
                    Assert.Matches(@"^\d{4}-\d{2}-01T00:00:00Z$", row["BillingPeriodStart"]);
                    if (row["ChargeCategory"] == "Tax") Assert.Equal(("", ""), (row["PricingQuantity"], row["PricingUnit"]));
                    else if (row["ChargeClass"] == "") Assert.Contains(row["PricingUnit"], new[] { "Hours", "GiB" });
                }

                // Each invoice's BilledCost to the cent.
                var invoices = (await host.InvoicesAsync()).Where(i => i.Period == period).ToList();
                Assert.Equal(
                    invoices.Select(i => $"{i.Number} {i.AccountId} {i.Total:0.00}").Order(StringComparer.Ordinal),
                    rows.GroupBy(r => (r["InvoiceId"], r["BillingAccountId"])).Select(g => $"{g.Key.Item1} {g.Key.Item2} {g.Sum(r => decimal.Parse(r["BilledCost"], CultureInfo.InvariantCulture)):0.00}").Order(StringComparer.Ordinal));
                if (period == "2026-11") Assert.Contains(rows, r => r["ChargeClass"] == "Correction" && r["ChargePeriodStart"] == "2026-10-01T00:00:00Z");
                if (period == "2026-10") Assert.Contains(rows, r => r["ChargeCategory"] == "Tax" && r["BillingAccountId"] == OctoberScenario.B && r["BilledCost"] == "0.02");

                // The parquet file reads back as the same rows.
                await using var parquet = File.OpenRead(parquetFile);
                var back = (await ParquetSerializer.DeserializeAsync<FocusRow>(parquet)).Data;
                Assert.Equal(rows.Select(r => string.Join("|", FocusRow.Columns.Select(c => Normal(r[c])))),
                    back.Select(r => string.Join("|", typeof(FocusRow).GetProperties().Select(p => Normal(Text(p.GetValue(r)))))));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task The_cli_refuses_an_unknown_format_and_a_bad_period_as_usage_errors()
    {
        var format = await Assert.ThrowsAsync<Billing.Host.CliException>(() =>
            ExportFocus.RunAsync(null!, new ExportFocus.Settings { Period = "2026-10", Out = "focus.xlsx", Format = "xlsx" }, CancellationToken.None));
        Assert.Equal("--format 'xlsx' is not one of csv, parquet", format.Message);
        var period = await Assert.ThrowsAsync<Billing.Host.CliException>(() =>
            ExportFocus.RunAsync(null!, new ExportFocus.Settings { Period = "2026-13", Out = "focus.csv" }, CancellationToken.None));
        Assert.Equal("'2026-13' is not a billing period like 2026-10 (YYYY-MM)", period.Message);
    }

    static string Text(object? value) => value switch
    {
        null => "",
        DateTime d => d.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        decimal m => m.ToString(CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };

    /// <summary>Decimals compared by value ("8.180000000000000000" is "8.18"), the rest as text.</summary>
    static string Normal(string text) =>
        decimal.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d)
            ? d.ToString("0.#############", CultureInfo.InvariantCulture) : text;
}
