namespace Billing.Events;

/// <summary>
/// Why a record was refused: a stable <see cref="Code"/> for scripts and tests, and a
/// sentence for people that names the field and the value.
/// </summary>
public sealed record RecordError(string Code, string Message)
{
    public override string ToString() => $"{Code}: {Message}";

    // Codes are part of the product's interface (dead letters, HTTP answers): never rename.
    public static RecordError MalformedJson(string detail) => new("malformed-json", $"the record is not valid JSON: {detail}");
    public static RecordError NotAnObject() => new("malformed-json", "the record must be a JSON object");
    public static RecordError UnknownType(string? type) => new("unknown-type", type is null ? "field 'type' is missing" : $"unknown record type '{type}'");
    public static RecordError Missing(string field) => new("missing-field", $"field '{field}' is missing");
    public static RecordError Invalid(string field, string why) => new("invalid-field", $"field '{field}' {why}");
    public static RecordError Future(string at, string now) => new("future-event", $"'at' {at} is more than 5 minutes after the time of arrival {now}");
    public static RecordError TooLate(string at, string oldest) => new("too-late", $"'at' {at} is in a period no longer open to late traffic (the oldest accepted starts {oldest})");
    public static RecordError UnknownRegion(string region) => new("unknown-region", $"region '{region}' has no price book");
}
