using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Tests.Support;
using Marten;

namespace Billing.Tests.PostingUsage;

/// <summary>
/// Bytes that are not UTF-8 in a POST /api/usage/events body, over real HTTP: the request is a 400
/// with a reason, like any other unreadable body, nothing of it is stored, and the next good
/// request is accepted as usual.
/// </summary>
public class InvalidUtf8Tests : IAsyncLifetime
{
    BillingTestHost _host = null!;

    public async Task InitializeAsync() => _host = await BillingTestHost.StartAsync();
    public async Task DisposeAsync() => await _host.DisposeAsync();

    const string E = "vpce-77777777777777777";
    const string Account = "777788889999";

    static string Created(string id) => Records.Created(id, "2026-10-01T00:00:00Z", E, Account, "us-east-1", "Interface", "use1-az1");
    static string Traffic(string id, long bytes) => Records.Traffic(id, "2026-10-01T01:00:00Z", E, "use1-az1", null, bytes);

    [Fact]
    public async Task A_body_with_invalid_utf8_in_a_string_is_a_400_that_says_so_and_where()
    {
        (string What, byte[] Bytes, string Where)[] cases =
        [
            ("a C3 lead byte followed by a non-continuation byte", [0x5B, 0x22, 0xC3, 0x28, 0x22, 0x5D], "record 0 has the bytes [C3] at byte 1"),
            ("a lone continuation byte", [0x5B, 0x22, 0x80, 0x22, 0x5D], "record 0 has the bytes [80] at byte 1"),
            ("an overlong encoding of '/'", [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D], "record 0 has the bytes [C0] at byte 1"),
            ("an encoded UTF-16 surrogate", [0x5B, 0x31, 0x2C, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D], "record 1 has the bytes [ED] at byte 1"),
            ("a truncated sequence before the closing quote", [0x5B, 0x22, 0xE2, 0x82, 0x22, 0x5D], "record 0 has the bytes [E2][82] at byte 1"),
            ("0xFF in a property name", [0x5B, 0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D, 0x5D], "record 0 has the bytes [FF] at byte 2"),
        ];
        var problems = new List<string>();
        foreach (var (what, bytes, where) in cases)
        {
            var (status, text) = await PostAsync(bytes);
            var error = status == HttpStatusCode.BadRequest ? (string?)JsonNode.Parse(text)!["error"] : null;
            if (error is null || !error.StartsWith("the body is not valid UTF-8 JSON: ", StringComparison.Ordinal) || !error.Contains(where, StringComparison.Ordinal))
                problems.Add($"{what}: {(int)status} {text} (expected 400 'the body is not valid UTF-8 JSON: ...{where}...')");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task Invalid_utf8_inside_a_record_refuses_the_whole_body_stores_nothing_and_good_requests_still_work()
    {
        var bad = Encoding.UTF8.GetBytes("[" + Created("u-1") + ",")
            .Concat(Encoding.UTF8.GetBytes("""{"type":"traffic.processed","id":""" + "\""))
            .Append((byte)0xFF)
            .Concat(Encoding.UTF8.GetBytes("\",\"at\":\"2026-10-01T01:00:00Z\",\"endpointId\":\"" + E + "\",\"azId\":\"use1-az1\",\"bytes\":5}]"))
            .ToArray();
        var (status, text) = await PostAsync(bad);
        Assert.True(status == HttpStatusCode.BadRequest, $"{(int)status} {text}");
        Assert.StartsWith("the body is not valid UTF-8 JSON: ", (string?)JsonNode.Parse(text)!["error"]);

        await using (var session = _host.Store.QuerySession())
        {
            Assert.Equal(0, await session.Query<Billing.Metering.Ingestion.DeadLetter>().CountAsync());
            Assert.Equal(0, await session.Events.QueryAllRawEvents().CountAsync());
        }

        // The same records, valid this time, in the next request: both accepted and billed.
        var (okStatus, okText) = await PostAsync(Encoding.UTF8.GetBytes("[" + Created("u-1") + "," + Traffic("u-2", 5) + "]"));
        Assert.True(okStatus == HttpStatusCode.OK, $"{(int)okStatus} {okText}");
        var answer = JsonNode.Parse(okText)!;
        Assert.Equal((2, 0, 0, 0), ((int)answer["accepted"]!, (int)answer["duplicates"]!, (int)answer["rejected"]!, (int)answer["pending"]!));
        var usage = await _host.UsageAsync(Account, "2026-10");
        Assert.Equal(5m, Assert.Single(usage.DataProcessed).Bytes);
    }

    async Task<(HttpStatusCode, string)> PostAsync(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var response = await _host.Http.PostAsync("/api/usage/events", content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
