using Billing.Events;
using Billing.Metering;
using NodaTime;

namespace Billing.Host.Features;

/// <summary>
/// A deterministic month of realistic usage for the quick start, tests and benchmarks: accounts in
/// several countries (Japanese and German names among them), endpoints of every type in three
/// regions, AZs added and removed, payer switches, deletions, and hourly traffic per AZ, part of
/// it from another AZ. The same seed always writes the same records.
/// </summary>
public sealed class SyntheticUsage(BillingPeriod period, int accounts, int seed = 42, int recordsPerHour = 1, int hoursBetweenTraffic = 1)
{
    static readonly (string Region, string[] Azs)[] Regions =
    [
        ("us-east-1", ["use1-az1", "use1-az2", "use1-az4", "use1-az6"]),
        ("eu-west-1", ["euw1-az1", "euw1-az2", "euw1-az3"]),
        ("ap-northeast-1", ["apne1-az1", "apne1-az2", "apne1-az4"]),
    ];

    static readonly (string Name, string Line1, string City, string Postal, string Country)[] Companies =
    [
        ("株式会社サンプル", "千代田区丸の内1-1", "東京", "100-0001", "JP"),
        ("Müller & Söhne GmbH", "Hauptstraße 5", "München", "80331", "DE"),
        ("Example Corp", "1 Main St", "Seattle", "98101", "US"),
        ("Acme Widgets Ltd", "10 Downing Row", "London", "SW1A 2AA", "GB"),
        ("Société Générale d'Exemple", "12 rue de la Paix", "Paris", "75002", "FR"),
        ("Osaka Trading K.K.", "2-3 Umeda, Kita-ku", "Osaka", "530-0001", "JP"),
    ];

    public string AccountId(int i) => $"{100000000000L + (long)i * 7919:D12}";

    public IEnumerable<IUsageRecord> Records()
    {
        var random = new Random(seed);
        var n = 0;
        string Id(string kind) => $"{period}-{seed}-{kind}-{++n}";
        var opened = period.Start - Duration.FromDays(20);
        var lifecycle = new List<IUsageRecord>();
        var endpoints = new List<EndpointTimeline>();

        for (var a = 0; a < accounts; a++)
        {
            var c = Companies[a % Companies.Length];
            var accountId = AccountId(a);
            lifecycle.Add(new AccountOpened(Id("acct"), opened, accountId, a < Companies.Length ? c.Name : $"{c.Name} #{a}",
                new BillingAddress(c.Line1, null, c.City, c.Postal, c.Country)));

            var endpointCount = 1 + random.Next(4);
            for (var e = 0; e < endpointCount; e++)
            {
                var (region, azs) = Regions[random.Next(Regions.Length)];
                var type = random.Next(20) switch { < 12 => EndpointType.Interface, < 15 => EndpointType.GatewayLoadBalancer, < 18 => EndpointType.Resource, _ => EndpointType.Gateway };
                var endpointId = $"vpce-{(ulong)random.NextInt64() & 0xFFFFFFFFFFFFFul:x17}";
                var created = random.Next(3) == 0
                    ? period.Start + Duration.FromMinutes(random.Next(period.Hours * 60 / 2))
                    : period.Start - Duration.FromDays(1 + random.Next(60));
                var chosen = azs.OrderBy(_ => random.Next()).Take(1 + random.Next(Math.Min(3, azs.Length))).ToList();
                var records = new List<IUsageRecord>
                {
                    new EndpointCreated(Id("ep"), created, endpointId, accountId, region, $"vpc-{(ulong)random.NextInt64() & 0xFFFFFFFFFFFFFul:x17}",
                        $"com.amazonaws.vpce.{region}.vpce-svc-{random.Next():x8}{random.Next():x8}", type, chosen),
                    new EndpointAccepted(Id("ep"), created + Duration.FromMinutes(random.Next(1, 30)), endpointId),
                };
                var during = (Duration d) => Max(created, period.Start) + d;
                if (random.Next(4) == 0 && azs.Except(chosen).FirstOrDefault() is { } extra)
                    records.Add(new EndpointAzAdded(Id("ep"), during(Duration.FromMinutes(random.Next(60 * 24 * 10))), endpointId, extra));
                if (chosen.Count > 1 && random.Next(4) == 0)
                    records.Add(new EndpointAzRemoved(Id("ep"), during(Duration.FromMinutes(60 * 24 * 10 + random.Next(60 * 24 * 5))), endpointId, chosen[^1]));
                if (accounts > 1 && random.Next(10) == 0)
                    records.Add(new EndpointPayerChanged(Id("ep"), during(Duration.FromMinutes(60 * 24 * 3 + random.Next(60 * 24 * 5))), endpointId, AccountId((a + 1) % accounts)));
                if (random.Next(8) == 0)
                    records.Add(new EndpointDeleted(Id("ep"), period.Start + Duration.FromDays(20) + Duration.FromMinutes(random.Next(60 * 24 * 5)), endpointId));

                if (records.OfType<EndpointDeleted>().FirstOrDefault() is { } deletion)
                    records.RemoveAll(r => r is not EndpointDeleted && r.At >= deletion.At);

                var timeline = EndpointTimeline.Create((EndpointCreated)records[0]);
                foreach (var r in records.Skip(1).OfType<IEndpointRecord>()) timeline = timeline.With(r);
                endpoints.Add(timeline);
                lifecycle.AddRange(records);
            }
        }

        foreach (var r in lifecycle.OrderBy(r => r.At)) yield return r;

        // Traffic, hour by hour across all endpoints, as producers would send it.
        for (var hour = 0; hour < period.Hours; hour += hoursBetweenTraffic)
            foreach (var e in endpoints)
                foreach (var az in e.AzIds)
                    for (var k = 0; k < recordsPerHour; k++)
                    {
                        var at = period.HourStart(hour) + Duration.FromSeconds(random.Next(3600));
                        if (!e.IsProvisioned(az, at)) continue;
                        var others = e.AzIds.Where(z => z != az).ToList();
                        var source = random.Next(10) switch { < 4 when others.Count > 0 => others[random.Next(others.Count)], < 8 => az, _ => null };
                        var bytes = (long)(Math.Pow(10, 6 + random.NextDouble() * 4.5));
                        yield return new TrafficProcessed(Id("t"), at, e.Id, az, source, bytes);
                    }
    }

    /// <summary>Writes the records as JSON Lines; returns how many.</summary>
    public long WriteJsonLines(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var writer = new StreamWriter(path);
        var count = 0L;
        foreach (var r in Records())
        {
            writer.WriteLine(RecordJson.Serialize(r));
            count++;
        }
        return count;
    }

    static Instant Max(Instant a, Instant b) => a > b ? a : b;
}
