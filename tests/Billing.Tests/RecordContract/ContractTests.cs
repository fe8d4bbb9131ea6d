using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Metering;
using NodaTime;

namespace Billing.Tests.RecordContract;

public class ContractTests
{
    static readonly ParseContext Context = new(Instant.FromUtc(2026, 11, 1, 0, 0), new HashSet<string> { "us-east-1", "eu-west-1", "ap-northeast-1" });

    // One line per event type, exactly in the shape of billing-rules.md section 9.
    static readonly string[] Lines =
    [
        """{"type":"account.opened","id":"r-1","at":"2026-10-01T00:00:00Z","accountId":"111122223333","name":"株式会社サンプル","billingAddress":{"line1":"1 Main St","city":"Tokyo","postalCode":"100-0001","country":"JP"}}""",
        """{"type":"account.address-changed","id":"r-2","at":"2026-10-02T00:00:00Z","accountId":"111122223333","billingAddress":{"line1":"Hauptstraße 5","line2":"3. OG","city":"München","country":"DE"}}""",
        """{"type":"endpoint.created","id":"r-3","at":"2026-10-01T10:50:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","accountId":"111122223333","region":"us-east-1","vpcId":"vpc-0123456789abcdef0","serviceName":"com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0","endpointType":"Interface","azIds":["use1-az1","use1-az2"]}""",
        """{"type":"endpoint.az-added","id":"r-4","at":"2026-10-01T11:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az4"}""",
        """{"type":"endpoint.az-removed","id":"r-5","at":"2026-10-01T12:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1"}""",
        """{"type":"endpoint.accepted","id":"r-6","at":"2026-10-01T10:51:00Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""",
        """{"type":"endpoint.rejected","id":"r-7","at":"2026-10-01T10:52:00Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""",
        """{"type":"endpoint.payer-changed","id":"r-8","at":"2026-10-03T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","payerAccountId":"444455556666"}""",
        """{"type":"endpoint.deleted","id":"r-9","at":"2026-10-20T00:00:00.125Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""",
        """{"type":"traffic.processed","id":"r-10","at":"2026-10-01T11:05:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","sourceAzId":"use1-az2","bytes":5368709120}""",
        """{"type":"traffic.processed","id":"r-11","at":"2026-10-01T11:05:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":0}""",
    ];

    public static TheoryData<string> EveryType => new(Lines);

    [Theory]
    [MemberData(nameof(EveryType))]
    public void Every_record_type_round_trips_through_the_contract_json(string line)
    {
        var parsed = RecordParser.Parse(line, Context);
        Assert.True(parsed.IsValid, parsed.Error?.ToString());
        var written = RecordJson.Serialize(parsed.Record!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(line), JsonNode.Parse(written)), $"{line}\n!=\n{written}");
        Assert.StartsWith("{\"type\":", written);
        var again = RecordParser.Parse(written, Context);
        Assert.Equal(RecordJson.Serialize(again.Record!), written);
    }

    static string Line(int index) => Lines[index];

    [Theory]
    [InlineData("1e3", "1000")]
    [InlineData("1E3", "1000")]
    [InlineData("1.0", "1")]
    [InlineData("-0.0", "0")]
    [InlineData("100.000", "100")]
    public void A_whole_number_of_bytes_written_with_a_fraction_or_an_exponent_is_refused_as_not_an_integer_literal(string written, string digits)
    {
        var parsed = RecordParser.Parse("{" + Traffic + ",\"bytes\":" + written + "}", Context);
        Assert.Equal(("invalid-field", $"field 'bytes' {written} is not an integer literal: a count of bytes has no fraction or exponent (write {digits})"),
            (parsed.Error?.Code, parsed.Error?.Message));
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("-0", 0L)] // the integer literal 0 with a sign (RFC 8259's int): the same count
    [InlineData("1000000000000000", 1_000_000_000_000_000L)]
    public void An_integer_literal_of_bytes_is_that_number(string written, long bytes) =>
        Assert.Equal(bytes, ((TrafficProcessed)RecordParser.Parse("{" + Traffic + ",\"bytes\":" + written + "}", Context).Record!).Bytes);

    [Fact]
    public void Parsed_values_are_typed_exactly()
    {
        var t = (TrafficProcessed)RecordParser.Parse(Line(9), Context).Record!;
        Assert.Equal(Instant.FromUtc(2026, 10, 1, 11, 5), t.At);
        Assert.Equal(5_368_709_120L, t.Bytes);
        Assert.Equal("use1-az2", t.SourceAzId);
        var c = (EndpointCreated)RecordParser.Parse(Line(2), Context).Record!;
        Assert.Equal(EndpointType.Interface, c.EndpointType);
        Assert.Equal(["use1-az1", "use1-az2"], c.AzIds);
    }

    [Fact]
    public void The_fingerprint_ignores_spacing_and_key_order_but_not_content()
    {
        var a = RecordParser.Parse("""{"type":"endpoint.accepted","id":"x","at":"2026-10-01T10:51:00Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""", Context).Record!;
        var b = RecordParser.Parse("""{ "endpointId":"vpce-0a1b2c3d4e5f60718", "at":"2026-10-01T10:51:00Z", "id":"x", "type":"endpoint.accepted" }""", Context).Record!;
        var c = RecordParser.Parse("""{"type":"endpoint.accepted","id":"x","at":"2026-10-01T10:52:00Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""", Context).Record!;
        Assert.Equal(RecordJson.Fingerprint(a), RecordJson.Fingerprint(b));
        Assert.NotEqual(RecordJson.Fingerprint(a), RecordJson.Fingerprint(c));
    }

    const string Traffic = "\"type\":\"traffic.processed\",\"id\":\"t-1\",\"at\":\"2026-10-01T11:05:00Z\",\"endpointId\":\"vpce-0a1b2c3d4e5f60718\",\"azId\":\"use1-az1\"";

    public static TheoryData<string, string, string> Invalid => new()
    {
        { """{"type":"traffic.processed","id":"t-1",""", "malformed-json", "not valid JSON" },
        { """[1,2]""", "malformed-json", "must be a JSON object" },
        { """{"type":"endpoint.exploded","id":"t-1","at":"2026-10-01T11:05:00Z"}""", "unknown-type", "unknown record type 'endpoint.exploded'" },
        { """{"id":"t-1","at":"2026-10-01T11:05:00Z"}""", "unknown-type", "field 'type' is missing" },
        { """{"type":"traffic.processed","at":"2026-10-01T11:05:00Z"}""", "missing-field", "field 'id' is missing" },
        { """{"type":"traffic.processed","id":"","at":"2026-10-01T11:05:00Z"}""", "invalid-field", "field 'id' must be 1-128 characters long, not 0" },
        { "{\"type\":\"traffic.processed\",\"id\":\"" + new string('x', 129) + "\"}", "invalid-field", "field 'id' must be 1-128 characters long, not 129" },
        { """{"type":"traffic.processed","id":"t\u00e9","at":"2026-10-01T11:05:00Z"}""", "invalid-field", "field 'id' must be printable ASCII only" },
        { "{" + Traffic + ",\"bytes\":-1}", "invalid-field", "field 'bytes' -1 is negative" },
        { "{" + Traffic + ",\"bytes\":1000000000000001}", "invalid-field", "field 'bytes' 1000000000000001 is above the maximum of 10^15" },
        { "{" + Traffic + ",\"bytes\":1e30}", "invalid-field", "field 'bytes' 1e30 is above the maximum of 10^15" },
        { "{" + Traffic + ",\"bytes\":1.5}", "invalid-field", "field 'bytes' 1.5 is not a whole number of bytes" },
        { "{" + Traffic + ",\"bytes\":\"100\"}", "invalid-field", "field 'bytes' must be an integer number, not a string" },
        { "{" + Traffic + "}", "missing-field", "field 'bytes' is missing" },
        { """{"type":"traffic.processed","id":"t-1","at":"2026-10-01T20:05:00+09:00","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":1}""", "invalid-field", "has a UTC offset" },
        { """{"type":"traffic.processed","id":"t-1","at":"yesterday","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":1}""", "invalid-field", "is not an ISO-8601 UTC instant" },
        { """{"type":"traffic.processed","id":"t-1","at":"2026-11-01T00:05:01Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":1}""", "future-event", "more than 5 minutes after" },
        { """{"type":"traffic.processed","id":"t-1","at":"2026-10-01T11:05:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"us-east-1a","bytes":1}""", "invalid-field", "not an AZ name such as us-east-1a" },
        { """{"type":"traffic.processed","id":"t-1","at":"2026-10-01T11:05:00Z","endpointId":"endpoint-1","azId":"use1-az1","bytes":1}""", "invalid-field", "field 'endpointId' 'endpoint-1' is not valid" },
        { """{"type":"endpoint.created","id":"c-1","at":"2026-10-01T10:50:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","accountId":"111122223333","region":"mars-north-1","vpcId":"vpc-0123456789abcdef0","serviceName":"svc","endpointType":"Interface","azIds":["use1-az1"]}""", "unknown-region", "region 'mars-north-1' has no price book" },
        { """{"type":"endpoint.created","id":"c-1","at":"2026-10-01T10:50:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","accountId":"111122223333","region":"us-east-1","vpcId":"vpc-0123456789abcdef0","serviceName":"svc","endpointType":"Interface","azIds":["euw1-az1"]}""", "invalid-field", "'euw1-az1' is not an AZ of region us-east-1" },
        { """{"type":"endpoint.created","id":"c-1","at":"2026-10-01T10:50:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","accountId":"111122223333","region":"us-east-1","vpcId":"vpc-0123456789abcdef0","serviceName":"svc","endpointType":"Interfaze","azIds":["use1-az1"]}""", "invalid-field", "'Interfaze' is not one of" },
        { """{"type":"endpoint.created","id":"c-1","at":"2026-10-01T10:50:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","accountId":"111122223333","region":"us-east-1","vpcId":"vpc-0123456789abcdef0","serviceName":"svc","endpointType":"Interface","azIds":[]}""", "invalid-field", "must list at least one AZ ID" },
        { """{"type":"endpoint.created","id":"c-1","at":"2026-10-01T10:50:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","accountId":"111122223333","region":"us-east-1","vpcId":"vpc-0123456789abcdef0","serviceName":"svc","endpointType":"Interface","azIds":["use1-az1","use1-az1"]}""", "invalid-field", "lists 'use1-az1' twice" },
        { """{"type":"account.opened","id":"a-1","at":"2026-10-01T00:00:00Z","accountId":"1234","name":"X","billingAddress":{"line1":"a","city":"b","country":"JP"}}""", "invalid-field", "field 'accountId' '1234' is not valid" },
        { """{"type":"account.opened","id":"a-1","at":"2026-10-01T00:00:00Z","accountId":"111122223333","name":"Evil\u0007Corp","billingAddress":{"line1":"a","city":"b","country":"JP"}}""", "invalid-field", "field 'name' contains control characters" },
        { "{\"type\":\"account.opened\",\"id\":\"a-1\",\"at\":\"2026-10-01T00:00:00Z\",\"accountId\":\"111122223333\",\"name\":\"" + new string('n', 300) + "\",\"billingAddress\":{\"line1\":\"a\",\"city\":\"b\",\"country\":\"JP\"}}", "invalid-field", "field 'name' is 300 characters long" },
        { """{"type":"account.opened","id":"a-1","at":"2026-10-01T00:00:00Z","accountId":"111122223333","name":"X","billingAddress":{"line1":"a","city":"b","country":"Japan"}}""", "invalid-field", "field 'billingAddress.country' 'Japan' is not valid" },
        { """{"type":"account.opened","id":"a-1","at":"2026-10-01T00:00:00Z","accountId":"111122223333","name":"X","billingAddress":{"city":"b","country":"JP"}}""", "missing-field", "field 'billingAddress.line1' is missing" },
        { """{"type":"endpoint.payer-changed","id":"p-1","at":"2026-10-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","payerAccountId":444455556666}""", "invalid-field", "field 'payerAccountId' must be a string, not a number" },
        { "{" + Traffic + ",\"bytes\":-5,\"bytes\":7}", "malformed-json", "key 'bytes' appears more than once" },
        { "{" + Traffic + ",\"sourceAzId\":\"\",\"bytes\":7}", "invalid-field", "field 'sourceAzId' must not be empty" },
        { "{" + Traffic + ",\"bytes\":-1e30}", "invalid-field", "field 'bytes' -1e30 is negative" },
        { """{"type":"account.opened","id":"a-1","at":"2026-10-01T00:00:00Z","accountId":"111122223333","name":"X\udc00","billingAddress":{"line1":"a","city":"b","country":"JP"}}""", "invalid-field", "field 'name' contains an unpaired UTF-16 surrogate escape" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Each_kind_of_invalid_record_gets_its_specific_reason(string line, string code, string message)
    {
        var parsed = RecordParser.Parse(line, Context);
        Assert.False(parsed.IsValid);
        Assert.Equal(code, parsed.Error!.Code);
        Assert.Contains(message, parsed.Error.Message);
    }

    [Fact]
    public void Traffic_older_than_the_late_window_is_too_late_and_traffic_inside_it_is_not()
    {
        var options = new Billing.Metering.Ingestion.IngestionOptions(Context.KnownRegions, Duration.FromMinutes(10), LateWindow.Default);
        var now = Instant.FromUtc(2026, 11, 26, 12, 0);
        Assert.Equal(Instant.FromUtc(2026, 8, 1, 0, 0), options.OldestAccepted(now)); // November less 3 periods
        var context = Context with { Now = now, OldestAccepted = options.OldestAccepted(now) };
        var late = RecordParser.Parse("""{"type":"traffic.processed","id":"x","at":"2026-07-31T23:59:59Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":1}""", context);
        Assert.Equal("too-late", late.Error!.Code);
        Assert.Equal("'at' 2026-07-31T23:59:59Z is in a period no longer open to late traffic (the oldest accepted starts 2026-08-01T00:00:00Z)", late.Error.Message);
        Assert.True(RecordParser.Parse("""{"type":"traffic.processed","id":"x","at":"2026-08-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":1}""", context).IsValid);
    }

    [Theory]
    [InlineData("""{"type":"account.opened","id":"a","at":"2019-03-01T00:00:00Z","accountId":"111122223333","name":"Old Corp","billingAddress":{"line1":"1 Main St","city":"Tokyo","country":"JP"}}""")]
    [InlineData("""{"type":"account.address-changed","id":"a","at":"2020-03-01T00:00:00Z","accountId":"111122223333","billingAddress":{"line1":"1 Main St","city":"Tokyo","country":"JP"}}""")]
    [InlineData("""{"type":"endpoint.created","id":"c","at":"2024-02-29T23:30:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","accountId":"111122223333","region":"us-east-1","vpcId":"vpc-0123456789abcdef0","serviceName":"svc","endpointType":"Interface","azIds":["use1-az1"]}""")]
    [InlineData("""{"type":"endpoint.az-added","id":"x","at":"2025-01-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az2"}""")]
    [InlineData("""{"type":"endpoint.az-removed","id":"x","at":"2025-01-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az2"}""")]
    [InlineData("""{"type":"endpoint.accepted","id":"x","at":"2026-07-31T23:59:59Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""")]
    [InlineData("""{"type":"endpoint.payer-changed","id":"x","at":"2025-06-01T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","payerAccountId":"444455556666"}""")]
    [InlineData("""{"type":"endpoint.deleted","id":"x","at":"2025-12-31T23:59:59Z","endpointId":"vpce-0a1b2c3d4e5f60718"}""")]
    public void Lifecycle_records_of_any_age_pass_the_late_window(string line)
    {
        var now = Instant.FromUtc(2026, 11, 26, 12, 0);
        var context = Context with { Now = now, OldestAccepted = LateWindow.Default.OldestOpen(now).Start };
        var parsed = RecordParser.Parse(line, context);
        Assert.True(parsed.IsValid, parsed.Error?.Message);
        Assert.Null(((ILifecycleRecord)parsed.Record!).RecordedAt); // never read from the producer's JSON
    }
}
