using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using Billing.Metering;
using NodaTime;

namespace Billing.Invoicing.Provenance;

/// <summary>One usage row that differs between what an invoice priced and what the period holds now.</summary>
public sealed record UsageDifference(string Usage, string Region, string? EndpointType, string? AzId, string? Pool, decimal Priced, decimal Now);

/// <summary>
/// The period as every event known now has it: its usage's hash, the rows that differ from what the
/// invoice priced, the later invoices that carried adjustments of it, and what no invoice has carried yet
/// (<see cref="PendingLines"/>, with <see cref="Pending"/> saying who will: the next close, or nobody).
/// </summary>
public sealed record PeriodNow(string UsageSha256, IReadOnlyList<UsageDifference> Differences, IReadOnlyList<string> CarriedBy, string? Pending, IReadOnlyList<InvoiceLine> PendingLines);

/// <summary>What `billing invoice verify` found (docs/provenance.md).</summary>
public sealed record InvoiceVerificationReport(
    string Number,
    string AccountId,
    BillingPeriod Period,
    string Status,
    bool? Matches,
    InvoiceProvenance? Provenance,
    string? ActualUsageSha256,
    bool? PriceBookMatches,
    bool? RulesMatch,
    PeriodNow Now)
{
    public const string NoProvenance = "no provenance (issued before provenance)";

    /// <summary>0 when the usage recomputed up to the invoice's event sequence is what it priced, 1 otherwise (no provenance included).</summary>
    public int ExitCode => Matches == true ? 0 : 1;
}

/// <summary>
/// Proving an invoice, decided over loaded facts (pure): the usage recomputed from the events up to the
/// invoice's <see cref="InvoiceProvenance.EventSequence"/> is hashed and compared with what it recorded;
/// the period's usage with every event known now is compared with that, and its lines with what has been
/// charged for the period so far (the invoice and every later adjustment of it), which says which invoice
/// carried the difference or which close will, if any.
/// </summary>
public static class InvoiceVerification
{
    /// <param name="recomputed">each period the invoice priced (its own and those it adjusts), recomputed up to its event sequence; ignored without provenance</param>
    /// <param name="now">the invoice's period with every event known now</param>
    /// <param name="later">the account's invoices of the periods after the invoice's, any order</param>
    /// <param name="closed">the periods closed so far</param>
    public static InvoiceVerificationReport Verify(Invoice invoice, IReadOnlyList<AccountUsage> recomputed, AccountUsage now, IReadOnlyList<Invoice> later,
        IReadOnlySet<BillingPeriod> closed, Instant at, LateWindow window, PriceBook priceBook, string rules)
    {
        var (period, account) = (invoice.Period, invoice.AccountId);
        var nowHash = CanonicalUsage.Sha256(account, [now]);

        var carriers = later.Where(i => i.Period > period && i.Lines.Any(l => l.Adjusts == period)).OrderBy(i => i.Number, StringComparer.Ordinal).ToList();
        var charged = InvoiceAdjustments.Charged(invoice.Lines.Where(l => !l.IsAdjustment).Concat(carriers.SelectMany(i => i.Lines.Where(l => l.Adjusts == period))));
        var pendingLines = InvoiceAdjustments.Between(period, charged, InvoiceCalculator.Lines(now, priceBook));
        string? pending = null;
        if (pendingLines.Count > 0)
        {
            var invoicedIn = later.Select(i => i.Period).ToHashSet();
            var next = window.AdjustedByCloseOf(period).FirstOrDefault(p => !closed.Contains(p) && !invoicedIn.Contains(p) && !window.IsFrozen(p, at));
            pending = next != default
                ? $"not yet invoiced: the next close of {next} carries them"
                : "frozen: outside the late window, never charged";
        }

        if (invoice.Provenance is not { } provenance)
            return new(invoice.Number, account, period, InvoiceVerificationReport.NoProvenance, null, null, null, null, null,
                new PeriodNow(nowHash, [], carriers.Select(c => c.Number).ToList(), pending, pendingLines));

        var actual = CanonicalUsage.Sha256(account, recomputed);
        var matches = actual == provenance.UsageSha256;
        var priced = recomputed.FirstOrDefault(u => u.Period == period) ?? AccountUsage.Empty(account, period);
        return new(invoice.Number, account, period,
            matches
                ? $"matches: the usage recomputed from the events up to {provenance.EventSequence} is what the invoice priced"
                : $"differs: the usage recomputed from the events up to {provenance.EventSequence} is not what the invoice priced",
            matches, provenance, actual, provenance.PriceBook == priceBook.Fingerprint, provenance.Rules == rules,
            new PeriodNow(nowHash, Differences(priced, now), carriers.Select(c => c.Number).ToList(), pending, pendingLines));
    }

    /// <summary>Rows of <paramref name="priced"/> and <paramref name="now"/> whose quantities differ (hours, or bytes), a missing row counting as 0.</summary>
    public static IReadOnlyList<UsageDifference> Differences(AccountUsage priced, AccountUsage now)
    {
        var differences = new List<UsageDifference>();
        void Compare<TKey>(IEnumerable<(TKey Key, decimal Value)> before, IEnumerable<(TKey Key, decimal Value)> after, Func<TKey, decimal, decimal, UsageDifference> make) where TKey : notnull
        {
            var b = before.ToDictionary(x => x.Key, x => x.Value);
            var a = after.ToDictionary(x => x.Key, x => x.Value);
            foreach (var key in b.Keys.Union(a.Keys))
            {
                var (was, @is) = (b.GetValueOrDefault(key), a.GetValueOrDefault(key));
                if (was != @is) differences.Add(make(key, was, @is));
            }
        }
        Compare(priced.EndpointHours.Select(h => ((h.Region, h.EndpointType, h.AzId), (decimal)h.Hours)), now.EndpointHours.Select(h => ((h.Region, h.EndpointType, h.AzId), (decimal)h.Hours)),
            (k, was, @is) => new UsageDifference("endpoint-hours", k.Region, k.EndpointType.ToString(), k.AzId, null, was, @is));
        Compare(priced.DataProcessed.Select(d => ((d.Region, d.Pool), d.Bytes)), now.DataProcessed.Select(d => ((d.Region, d.Pool), d.Bytes)),
            (k, was, @is) => new UsageDifference("data-processed", k.Region, null, null, k.Pool, was, @is));
        Compare(priced.CrossAz.Select(c => (c.Region, c.Bytes)), now.CrossAz.Select(c => (c.Region, c.Bytes)),
            (k, was, @is) => new UsageDifference("cross-az", k, null, null, null, was, @is));
        return differences;
    }

    static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.Create(UnicodeRanges.All) };

    /// <summary>
    /// The report as `--json` and <c>GET /api/invoices/{number}/verify</c> give it. Hours and bytes are
    /// strings, like every decimal of the invoice JSON.
    /// </summary>
    public static string Json(InvoiceVerificationReport r)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            w.WriteString("number", r.Number);
            w.WriteString("accountId", r.AccountId);
            w.WriteString("period", r.Period.ToString());
            w.WriteString("status", r.Status);
            if (r.Matches is { } m) w.WriteBoolean("matches", m); else w.WriteNull("matches");
            if (r.Provenance is { } p)
                p.Write(w);
            else w.WriteNull("provenance");
            w.WriteString("expectedUsageSha256", r.Provenance?.UsageSha256);
            w.WriteString("actualUsageSha256", r.ActualUsageSha256);
            if (r.PriceBookMatches is { } pb) w.WriteBoolean("priceBookMatches", pb); else w.WriteNull("priceBookMatches");
            if (r.RulesMatch is { } rm) w.WriteBoolean("rulesMatch", rm); else w.WriteNull("rulesMatch");
            w.WriteStartObject("now");
            w.WriteString("usageSha256", r.Now.UsageSha256);
            w.WriteStartArray("differences");
            foreach (var d in r.Now.Differences)
            {
                w.WriteStartObject();
                w.WriteString("usage", d.Usage);
                w.WriteString("region", d.Region);
                if (d.EndpointType is not null) w.WriteString("endpointType", d.EndpointType);
                if (d.AzId is not null) w.WriteString("azId", d.AzId);
                if (d.Pool is not null) w.WriteString("pool", d.Pool);
                w.WriteString("priced", CanonicalUsage.Number(d.Priced));
                w.WriteString("now", CanonicalUsage.Number(d.Now));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("carriedBy");
            foreach (var n in r.Now.CarriedBy) w.WriteStringValue(n);
            w.WriteEndArray();
            w.WriteString("pending", r.Now.Pending);
            w.WriteStartArray("pendingLines");
            foreach (var l in r.Now.PendingLines) InvoiceJson.WriteLine(w, l);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The report for a person: one line per finding.</summary>
    public static string Text(InvoiceVerificationReport r)
    {
        var text = new StringBuilder();
        text.AppendLine($"{r.Number} ({r.AccountId}, {r.Period}): {r.Status}");
        if (r.Provenance is { } p)
        {
            text.AppendLine($"  event sequence {p.EventSequence}; usage sha256 recorded {p.UsageSha256}");
            text.AppendLine($"                            recomputed {r.ActualUsageSha256}");
            if (r.PriceBookMatches == false) text.AppendLine($"  price book: issued with {p.PriceBook}, the service's is another one");
            if (r.RulesMatch == false) text.AppendLine($"  rules: issued by {p.Rules}, another build runs now");
        }
        if (r.Now.Differences.Count == 0 && r.Now.CarriedBy.Count == 0 && r.Now.PendingLines.Count == 0)
            text.AppendLine($"  now: {r.Period} is unchanged since");
        foreach (var d in r.Now.Differences)
            text.AppendLine($"  now: {d.Usage} {d.Region} {d.EndpointType ?? d.Pool}{(d.AzId is null ? "" : " " + d.AzId)}: {CanonicalUsage.Number(d.Priced)} priced, {CanonicalUsage.Number(d.Now)} now");
        if (r.Now.CarriedBy.Count > 0) text.AppendLine($"  adjustments of {r.Period} carried by {string.Join(", ", r.Now.CarriedBy)}");
        if (r.Now.Pending is { } pending) text.AppendLine($"  {r.Now.PendingLines.Count} adjustment lines ({Money.Format(r.Now.PendingLines.Sum(l => l.Amount))} USD): {pending}");
        return text.ToString().TrimEnd();
    }
}
