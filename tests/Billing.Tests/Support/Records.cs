namespace Billing.Tests.Support;

/// <summary>Contract JSON lines for tests, written as a producer would send them.</summary>
public static class Records
{
    public static string Opened(string id, string at, string account, string name = "Example Corp", string country = "US") =>
        $$$"""{"type":"account.opened","id":"{{{id}}}","at":"{{{at}}}","accountId":"{{{account}}}","name":"{{{name}}}","billingAddress":{"line1":"1 Main St","city":"Springfield","postalCode":"12345","country":"{{{country}}}"}}""";

    public static string Created(string id, string at, string endpoint, string account, string region, string type, params string[] azs) =>
        $$"""{"type":"endpoint.created","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}","accountId":"{{account}}","region":"{{region}}","vpcId":"vpc-0123456789abcdef0","serviceName":"com.amazonaws.vpce.{{region}}.vpce-svc-0123456789abcdef0","endpointType":"{{type}}","azIds":[{{string.Join(",", azs.Select(a => $"\"{a}\""))}}]}""";

    public static string AzAdded(string id, string at, string endpoint, string az) =>
        $$"""{"type":"endpoint.az-added","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}","azId":"{{az}}"}""";

    public static string AzRemoved(string id, string at, string endpoint, string az) =>
        $$"""{"type":"endpoint.az-removed","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}","azId":"{{az}}"}""";

    public static string Accepted(string id, string at, string endpoint) =>
        $$"""{"type":"endpoint.accepted","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}"}""";

    public static string Rejected(string id, string at, string endpoint) =>
        $$"""{"type":"endpoint.rejected","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}"}""";

    public static string PayerChanged(string id, string at, string endpoint, string payer) =>
        $$"""{"type":"endpoint.payer-changed","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}","payerAccountId":"{{payer}}"}""";

    public static string Deleted(string id, string at, string endpoint) =>
        $$"""{"type":"endpoint.deleted","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}"}""";

    public static string Traffic(string id, string at, string endpoint, string az, string? source, long bytes) => source is null
        ? $$"""{"type":"traffic.processed","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}","azId":"{{az}}","bytes":{{bytes}}}"""
        : $$"""{"type":"traffic.processed","id":"{{id}}","at":"{{at}}","endpointId":"{{endpoint}}","azId":"{{az}}","sourceAzId":"{{source}}","bytes":{{bytes}}}""";
}

/// <summary>
/// One October worked by hand (docs/metering.md walks through it): re-entry within an hour, a
/// payer switch at 15:30, deletion, an endpoint created in September, a free Gateway endpoint,
/// same-AZ, cross-AZ and on-premises traffic.
/// </summary>
public static class OctoberScenario
{
    public const string A = "111122223333";
    public const string B = "444455556666";
    public const string E1 = "vpce-0a1b2c3d4e5f60718";
    public const string E2 = "vpce-11111111111111111";
    public const string E3 = "vpce-22222222222222222";
    const long GiB = 1L << 30;

    public static readonly string[] Lines =
    [
        Records.Opened("s-1", "2026-09-01T00:00:00Z", A),
        Records.Created("s-2", "2026-10-01T10:50:00Z", E1, A, "us-east-1", "Interface", "use1-az1", "use1-az2"),
        Records.Accepted("s-3", "2026-10-01T10:55:00Z", E1),
        Records.AzRemoved("s-4", "2026-10-01T12:20:00Z", E1, "use1-az1"),
        Records.AzAdded("s-5", "2026-10-01T12:40:00Z", E1, "use1-az1"),
        Records.PayerChanged("s-6", "2026-10-01T15:30:00Z", E1, B),
        Records.Deleted("s-7", "2026-10-02T00:00:00Z", E1),
        Records.Created("s-8", "2026-09-30T23:30:00Z", E2, A, "eu-west-1", "GatewayLoadBalancer", "euw1-az1"),
        Records.Rejected("s-9", "2026-09-30T23:40:00Z", E2),
        Records.Created("s-10", "2026-10-05T00:00:00Z", E3, A, "us-east-1", "Gateway", "use1-az1"),
        Records.Traffic("t-1", "2026-10-01T11:05:00Z", E1, "use1-az1", "use1-az2", 5 * GiB),
        Records.Traffic("t-2", "2026-10-01T15:10:00Z", E1, "use1-az2", null, 1 * GiB),
        Records.Traffic("t-3", "2026-10-01T15:45:00Z", E1, "use1-az2", "use1-az2", 2 * GiB),
        Records.Traffic("t-4", "2026-10-01T20:00:00Z", E1, "use1-az1", "use1-az2", 3 * GiB),
        Records.Traffic("t-5", "2026-10-10T08:00:00Z", E2, "euw1-az1", "euw1-az2", GiB / 2),
        Records.Traffic("t-6", "2026-10-06T00:00:00Z", E3, "use1-az1", "use1-az2", 10 * GiB),
        Records.Traffic("t-7", "2026-09-30T23:45:00Z", E2, "euw1-az1", null, GiB),
    ];

    // Hours: E1 az1 stays [10:50,12:20) and [12:40,24:00) and az2 [10:50,24:00) both touch hours
    // 10..23 (14 hours); the payer at each hour's first provisioned instant is A for 10..15 and B for
    // 16..23. E2 runs all October (744 h); E3 from 5 October (27 days, 648 h).
    // Bytes: t-1 and t-2 are A's (before 15:30), t-3 and t-4 are B's; cross-AZ goes to the owner A
    // (t-1, t-4 in us-east-1; t-5 in eu-west-1); Gateway traffic (t-6) is metered but never cross-AZ.
    public const string ExpectedA = """{"accountId":"111122223333","period":"2026-10","endpointHours":[{"region":"eu-west-1","endpointType":"GatewayLoadBalancer","azId":"euw1-az1","hours":744},{"region":"us-east-1","endpointType":"Interface","azId":"use1-az1","hours":6},{"region":"us-east-1","endpointType":"Interface","azId":"use1-az2","hours":6},{"region":"us-east-1","endpointType":"Gateway","azId":"use1-az1","hours":648}],"dataProcessed":[{"region":"eu-west-1","pool":"GatewayLoadBalancer","bytes":536870912,"gb":"0.500000000"},{"region":"us-east-1","pool":"Gateway","bytes":10737418240,"gb":"10.000000000"},{"region":"us-east-1","pool":"Interface","bytes":6442450944,"gb":"6.000000000"}],"crossAz":[{"region":"eu-west-1","bytes":536870912,"gb":"0.500000000"},{"region":"us-east-1","bytes":8589934592,"gb":"8.000000000"}]}""";

    public const string ExpectedB = """{"accountId":"444455556666","period":"2026-10","endpointHours":[{"region":"us-east-1","endpointType":"Interface","azId":"use1-az1","hours":8},{"region":"us-east-1","endpointType":"Interface","azId":"use1-az2","hours":8}],"dataProcessed":[{"region":"us-east-1","pool":"Interface","bytes":5368709120,"gb":"5.000000000"}],"crossAz":[]}""";

    public const string ExpectedASeptember = """{"accountId":"111122223333","period":"2026-09","endpointHours":[{"region":"eu-west-1","endpointType":"GatewayLoadBalancer","azId":"euw1-az1","hours":1}],"dataProcessed":[{"region":"eu-west-1","pool":"GatewayLoadBalancer","bytes":1073741824,"gb":"1.000000000"}],"crossAz":[]}""";
}
