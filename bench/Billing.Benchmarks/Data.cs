using Billing.Events;
using Billing.Invoicing;
using Billing.Metering;
using NodaTime;

namespace Billing.Benchmarks;

/// <summary>Deterministic (seeded) inputs for the benchmarks: the same arguments always give the same data.</summary>
static class Data
{
    /// <summary>October 2026: 31 days, 744 hours.</summary>
    public static readonly BillingPeriod Period = new(2026, 10);

    public static readonly Instant IssuedAt = Instant.FromUtc(2026, 11, 2, 0, 0, 0);

    public static readonly Seller Seller = new(
        "Example Connectivity K.K.", new BillingAddress("2-2-2 Otemachi", "Example Tower 20F", "Tokyo", "100-0004", "JP"),
        TaxRegistration: "T1234567890123", Contact: "billing@example.com");

    static readonly BillingAddress TokyoAddress = new("1-1 Marunouchi", null, "Tokyo", "100-0001", "JP");

    static readonly (string Region, string[] Azs)[] Regions =
    [
        ("us-east-1", ["use1-az1", "use1-az2", "use1-az4", "use1-az6"]),
        ("eu-west-1", ["euw1-az1", "euw1-az2", "euw1-az3"]),
        ("ap-northeast-1", ["apne1-az1", "apne1-az2", "apne1-az4"]),
    ];

    static readonly EndpointType[] Types =
        [EndpointType.Interface, EndpointType.Interface, EndpointType.Resource, EndpointType.GatewayLoadBalancer, EndpointType.Gateway];

    static readonly EndpointType[] PricedTypes = [EndpointType.Interface, EndpointType.Resource, EndpointType.GatewayLoadBalancer];

    const decimal BytesPerGb = Gigabytes.BytesPerGb;

    static string Account(int i) => $"{100000000000 + i * 1111:D12}";

    /// <summary><paramref name="count"/> stays of 5 to 95 minutes starting at random instants of <see cref="Period"/>.</summary>
    public static List<Interval> ShortStays(int count, int seed)
    {
        var random = new Random(seed);
        var minutes = Period.Hours * 60;
        return Enumerable.Range(0, count)
            .Select(_ =>
            {
                var start = Period.Start + Duration.FromSeconds(random.Next(minutes * 60));
                return new Interval(start, start + Duration.FromMinutes(random.Next(5, 96)));
            })
            .ToList();
    }

    /// <summary>
    /// <paramref name="endpoints"/> endpoints over 3 regions and 12 owner accounts, 2 AZs each. Every
    /// tenth is created mid-month, moves from its second AZ to a third, is deleted in the last week,
    /// or has its payer changed mid-hour (with 60 raw records per AZ of that hour). Traffic: one
    /// bucket per provisioned hour and AZ (on-premises source) and, every fourth hour, one from the other AZ.
    /// </summary>
    public static MeteringInput MeteringInput(int endpoints, int seed)
    {
        var random = new Random(seed);
        var timelines = new List<EndpointTimeline>();
        var traffic = new Dictionary<string, IReadOnlyList<TrafficBucket>>();
        var raw = new Dictionary<string, IReadOnlyList<TrafficProcessed>>();
        var hours = Period.Hours;

        for (var i = 0; i < endpoints; i++)
        {
            var (region, azs) = Regions[i % Regions.Length];
            var id = $"vpce-{i:x17}";
            var owner = Account(i % 12);
            var twoAzs = new[] { azs[i % azs.Length], azs[(i + 1) % azs.Length] };
            var created = i % 10 == 1
                ? Period.Start + Duration.FromSeconds(random.Next(hours * 3600 / 2))
                : Period.Start - Duration.FromDays(30 + i);
            var e = EndpointTimeline.Create(new EndpointCreated(
                $"rec-{i}-create", created, id, owner, region, $"vpc-{i:x8}", $"com.example.svc-{i % 7}", Types[i % Types.Length], twoAzs));

            var n = 0;
            string Rec() => $"rec-{i}-{++n}";
            Instant? deleted = null;
            switch (i % 10)
            {
                case 3:
                    var moved = Period.Start + Duration.FromHours(300) + Duration.FromMinutes(17);
                    e.Apply(new EndpointAzRemoved(Rec(), moved, id, twoAzs[1]));
                    e.Apply(new EndpointAzAdded(Rec(), moved + Duration.FromMinutes(40), id, azs[(i + 2) % azs.Length]));
                    break;
                case 5:
                    deleted = Period.Start + Duration.FromDays(24) + Duration.FromSeconds(random.Next(6 * 86400));
                    e.Apply(new EndpointDeleted(Rec(), deleted.Value, id));
                    break;
                case 0:
                    var changed = Period.Start + Duration.FromHours(random.Next(24, hours - 24)) + Duration.FromMinutes(23);
                    e.Apply(new EndpointPayerChanged(Rec(), changed, id, Account(12 + i % 5)));
                    var hourStart = EndpointHours.FloorToHour(changed);
                    raw[id] = twoAzs
                        .SelectMany(az => Enumerable.Range(0, 60).Select(m => new TrafficProcessed(
                            Rec(), hourStart + Duration.FromMinutes(m) + Duration.FromSeconds(7), id, az, null, random.Next(1, 50_000_000))))
                        .ToList();
                    break;
            }
            timelines.Add(e);

            var first = Math.Max(0, Period.HourIndex(EndpointHours.FloorToHour(Max(created, Period.Start))));
            var end = deleted is { } d ? Period.HourIndex(d) + 1 : hours;
            var buckets = new List<TrafficBucket>((end - first) * 3);
            for (var h = first; h < end; h++)
                for (var a = 0; a < 2; a++)
                {
                    buckets.Add(new TrafficBucket(h, twoAzs[a], null, random.Next(1, 2_000_000_000)));
                    if (h % 4 == 0) buckets.Add(new TrafficBucket(h, twoAzs[a], twoAzs[1 - a], random.Next(1, 200_000_000)));
                }
            traffic[id] = buckets;
        }
        return new MeteringInput(Period, timelines, traffic, raw);
    }

    /// <summary>
    /// An account's usage of <paramref name="rows"/> rows: up to 3 cross-AZ rows (one per region), up to
    /// 9 data-processed rows (one per region and priced pool, one of them past the first tier), the
    /// rest endpoint-hours rows with distinct (region, type, AZ) keys.
    /// </summary>
    public static AccountUsage AccountUsage(int rows, int seed = 11)
    {
        var random = new Random(seed);
        var crossAzRows = Math.Min(3, rows / 5);
        var processedRows = Math.Min(9, rows / 5);
        var crossAz = Enumerable.Range(0, crossAzRows)
            .Select(k => new CrossAzUsage(Regions[k].Region, random.Next(1, 5_000) * BytesPerGb + random.Next()))
            .ToList();
        var processed = Enumerable.Range(0, processedRows)
            .Select(k => new DataProcessedUsage(
                Regions[k % 3].Region, Pools.Of(PricedTypes[k / 3]),
                (k == 0 ? 1_500_000m : random.Next(1, 100_000)) * BytesPerGb + random.Next()))
            .ToList();
        return new AccountUsage(Account(1), Period, HoursRows(rows - crossAzRows - processedRows), processed, crossAz);
    }

    /// <summary><paramref name="count"/> endpoint-hours rows with distinct (region, type, AZ) keys.</summary>
    static List<EndpointHoursUsage> HoursRows(int count) => Enumerable.Range(0, count)
        .Select(k =>
        {
            var region = Regions[k % 3].Region;
            return new EndpointHoursUsage(region, PricedTypes[k / 3 % 3], $"{AvailabilityZones.Prefix(region)}-az{k / 9 + 1}", 1 + k * 37 % 744);
        })
        .ToList();

    /// <summary>
    /// An issued Japanese invoice of <paramref name="lines"/> lines (at least 3): one data-processing
    /// line, the two cross-AZ lines and endpoint-hours lines over 3 regions.
    /// </summary>
    public static Invoice Invoice(int lines)
    {
        var usage = new AccountUsage(Account(1), Period, HoursRows(lines - 3),
            [new DataProcessedUsage("us-east-1", "Interface", 12.5m * BytesPerGb)],
            [new CrossAzUsage("us-east-1", 5m * BytesPerGb)]);
        var content = InvoiceCalculator.Calculate(usage, PriceBook.Default, "JP");
        if (content.Lines.Count != lines) throw new InvalidOperationException($"{content.Lines.Count} lines, expected {lines}");
        return Billing.Invoicing.Invoice.Issue(content, "INV-2026-000042", "株式会社サンプル", TokyoAddress, IssuedAt);
    }

    static Instant Max(Instant a, Instant b) => a > b ? a : b;
}
