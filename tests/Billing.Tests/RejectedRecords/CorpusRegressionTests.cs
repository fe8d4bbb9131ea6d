using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Tests.Support;

namespace Billing.Tests.RejectedRecords;

/// <summary>
/// Regression tests for bad records the service once mishandled (found while building the corpus):
/// each used to harm its whole batch or be accepted as something it is not.
/// </summary>
public class CorpusRegressionTests
{
    /// <summary>
    /// A lone UTF-16 surrogate escape (\ud800) is valid JSON text, but JsonElement.GetString() throws
    /// InvalidOperationException, which RecordParser does not catch: the HTTP request fails with 500
    /// and the good records of the batch are lost; on the bus the whole message (up to 1,000 records)
    /// fails and `billing import` never finishes. Expected: that record alone is rejected.
    /// </summary>
    [Fact]
    public async Task A_lone_surrogate_escape_rejects_only_its_own_record()
    {
        await using var host = await BillingTestHost.StartAsync();
        var answer = await PostAsync(host, [.. CorpusScenario.Base,
            """{"type":"traffic.processed","id":"bug-\ud800","at":"2026-10-03T00:00:00Z","endpointId":"vpce-0a1b2c3d4e5f60718","azId":"use1-az1","bytes":1}""",
            """{"type":"account.opened","id":"bug-2","at":"2026-10-05T00:00:00Z","accountId":"555566667777","name":"Example\udc00","billingAddress":{"line1":"1 Main St","city":"Springfield","country":"US"}}"""]);
        Assert.Equal(CorpusScenario.Base.Length, (int)answer["accepted"]!);
        Assert.Equal(2, (int)answer["rejected"]!);
    }

    /// <summary>
    /// Enum.TryParse accepts flag combinations and surrounding blanks: "GatewayLoadBalancer, Resource"
    /// (1|2) and "Interface, Gateway" (0|3) are both accepted as Gateway, which is never invoiced;
    /// " Interface" is accepted as Interface. Expected: invalid-field "... is not one of ...".
    /// </summary>
    [Fact]
    public async Task An_endpoint_type_that_is_not_exactly_one_of_the_names_is_rejected()
    {
        await using var host = await BillingTestHost.StartAsync();
        var answer = await PostAsync(host,
        [
            Records.Created("bug-3", "2026-10-05T00:00:00Z", "vpce-5555555555555555", CorpusScenario.A, "us-east-1", "GatewayLoadBalancer, Resource", "use1-az1"),
            Records.Created("bug-4", "2026-10-05T00:00:00Z", "vpce-6666666666666666", CorpusScenario.A, "us-east-1", "Interface, Gateway", "use1-az1"),
            Records.Created("bug-5", "2026-10-05T00:00:00Z", "vpce-7777777777777777", CorpusScenario.A, "us-east-1", " Interface", "use1-az1"),
        ]);
        foreach (var result in answer["results"]!.AsArray())
        {
            Assert.Equal("invalid-field", (string?)result!["code"]);
            Assert.Contains("is not one of Interface, GatewayLoadBalancer, Resource, Gateway", (string?)result["reason"]);
        }
    }

    static async Task<JsonNode> PostAsync(BillingTestHost host, string[] records)
    {
        var response = await host.Http.PostAsync("/api/usage/events", new StringContent("[" + string.Join(",", records) + "]", Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }
}
