using System.Text.Json;
using Billing.Events;
using Billing.Metering;
using NodaTime;
using NodaTime.Serialization.SystemTextJson;
using Xunit;

namespace Billing.Tests.Metering;

/// <summary>The fast converter for stored traffic reads and writes what the default serializer does.</summary>
public sealed class TrafficJsonTests
{
    static readonly JsonSerializerOptions Default = new JsonSerializerOptions(JsonSerializerDefaults.Web).ConfigureForNodaTime(DateTimeZoneProviders.Tzdb);
    static readonly JsonSerializerOptions Fast = new(Default) { Converters = { new TrafficJson() } };

    public static TheoryData<TrafficProcessed> Records() =>
    [
        new("t-1", Instant.FromUtc(2026, 10, 1, 4, 0, 0), "vpce-0000bfd175453b9aa", "euw1-az3", "euw1-az1", 1_274_273),
        new("t-2", Instant.FromUtc(2024, 2, 29, 23, 59, 59), "vpce-1", "use1-az1", null, 0),
        new("t-3", Instant.FromUtc(2026, 10, 31, 23, 59, 59) + Duration.FromNanoseconds(123_456_789), "vpce-2", "apne1-az4", "apne1-az1", long.MaxValue),
        new("t-4", Instant.FromUtc(2026, 1, 1, 0, 0, 0) + Duration.FromMilliseconds(500), "vpce-3", "use1-az6", null, 1),
        new("quote\"and\\slash and ü and 株式", Instant.FromUtc(1999, 12, 31, 12, 30, 15), "vpce-4", "euw1-az2", "euw1-az2", 42),
    ];

    [Theory]
    [MemberData(nameof(Records))]
    public void Writes_what_the_default_serializer_reads_and_reads_what_it_writes(TrafficProcessed record)
    {
        var batch = new TrafficRecorded([record]);
        Assert.Equal(record, JsonSerializer.Deserialize<TrafficRecorded>(JsonSerializer.Serialize(batch, Default), Fast)!.Records.Single());
        Assert.Equal(record, JsonSerializer.Deserialize<TrafficRecorded>(JsonSerializer.Serialize(batch, Fast), Default)!.Records.Single());
        Assert.Equal(JsonSerializer.Serialize(record, Default), JsonSerializer.Serialize(record, Fast));
    }

    [Fact]
    public void Reads_properties_in_any_order_and_ignores_unknown_ones()
    {
        const string json = """{"bytes":7,"extra":{"a":[1,2]},"sourceAzId":null,"azId":"use1-az1","endpointId":"vpce-9","at":"2026-10-05T06:07:08Z","id":"x"}""";
        Assert.Equal(new TrafficProcessed("x", Instant.FromUtc(2026, 10, 5, 6, 7, 8), "vpce-9", "use1-az1", null, 7), JsonSerializer.Deserialize<TrafficProcessed>(json, Fast));
    }

    [Theory]
    [InlineData("""{"id":"x","at":"2026-02-30T00:00:00Z","endpointId":"e","azId":"a","bytes":1}""", typeof(NodaTime.Text.UnparsableValueException), "The day 30 is out of range in month 2")]
    [InlineData("""{"id":"x","at":"2026-10-05 06:07:08Z","endpointId":"e","azId":"a","bytes":1}""", typeof(NodaTime.Text.UnparsableValueException), "The value string does not match")]
    [InlineData("""{"id":"x","endpointId":"e","azId":"a","bytes":1}""", typeof(JsonException), "a stored traffic record has no 'at'")]
    public void Refuses_what_is_not_a_stored_traffic_record(string json, Type exception, string message)
    {
        var e = Assert.Throws(exception, () => JsonSerializer.Deserialize<TrafficProcessed>(json, Fast));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Leaves_unusual_instants_to_NodaTime_and_agrees_with_it()
    {
        // Hour 24 is outside the direct path; NodaTime's ISO pattern decides, as it does by default.
        const string json = """{"id":"x","at":"2026-10-05T24:00:00Z","endpointId":"e","azId":"a","sourceAzId":null,"bytes":1}""";
        Exception? byDefault = null, byFast = null;
        TrafficProcessed? expected = null, actual = null;
        try { expected = JsonSerializer.Deserialize<TrafficProcessed>(json, Default); } catch (Exception e) { byDefault = e; }
        try { actual = JsonSerializer.Deserialize<TrafficProcessed>(json, Fast); } catch (Exception e) { byFast = e; }
        Assert.Equal(byDefault?.GetType(), byFast?.GetType());
        Assert.Equal(byDefault?.Message, byFast?.Message);
        Assert.Equal(expected, actual);
    }

    static readonly JsonSerializerOptions Stored = new(Default) { Converters = { new TrafficJson(), new TrafficRecordedJson() } };

    [Fact]
    public void A_traffic_batch_is_stored_as_columns_with_each_endpoint_and_az_written_once()
    {
        var at = Instant.FromUtc(2026, 10, 5, 6, 7, 8);
        var batch = new TrafficRecorded([
            new("a", at, "vpce-1", "use1-az1", "use1-az2", 5),
            new("b", at + Duration.FromSeconds(1), "vpce-2", "use1-az2", null, 1_000_000_000_000_000),
            new("c", at, "vpce-1", "use1-az1", null, 0),
        ]);
        Assert.Equal(
            """{"endpoints":["vpce-1","vpce-2"],"azs":["use1-az1","use1-az2"],"ids":["a","b","c"],"at":[1791180428,1791180429,1791180428],"endpoint":[0,1,0],"az":[0,1,0],"source":[1,-1,-1],"bytes":[5,1000000000000000,0]}""",
            JsonSerializer.Serialize(batch, Stored));
    }

    [Fact]
    public void A_batch_reads_back_as_it_was_written_and_batches_stored_as_lists_still_read()
    {
        var records = ((IEnumerable<object[]>)Records()).Select(r => (TrafficProcessed)r[0])
            .Append(new("before-1970", Instant.FromUtc(1969, 12, 31, 23, 59, 59) + Duration.FromNanoseconds(1), "vpce-5", "use1-az1", null, 3))
            .ToList();
        var batch = new TrafficRecorded(records);
        Assert.Equal(records, JsonSerializer.Deserialize<TrafficRecorded>(JsonSerializer.Serialize(batch, Stored), Stored)!.Records);
        Assert.Contains("\"nanos\":", JsonSerializer.Serialize(batch, Stored));
        // Stored before the columnar form: {"records":[{...}]}.
        Assert.Equal(records, JsonSerializer.Deserialize<TrafficRecorded>(JsonSerializer.Serialize(batch, Default), Stored)!.Records);
    }

    [Fact]
    public void A_batch_whose_columns_differ_in_length_is_refused()
    {
        const string json = """{"endpoints":["vpce-1"],"azs":["use1-az1"],"ids":["a","b"],"at":[1],"endpoint":[0],"az":[0],"source":[-1],"bytes":[5]}""";
        Assert.Contains("differ in length", Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TrafficRecorded>(json, Stored)).Message);
    }
}
