using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Billing.Metering;

namespace Billing.Invoicing.Provenance;

/// <summary>
/// The canonical form of the usage an invoice priced, the text its <see cref="InvoiceProvenance.UsageSha256"/>
/// hashes. One UTF-8 JSON object without whitespace:
/// <c>{"accountId":"…","periods":[{"crossAz":[{"bytes":"…","region":"…"}],"dataProcessed":[{"bytes":"…","pool":"…","region":"…"}],"endpointHours":[{"azId":"…","endpointType":"…","hours":"…","region":"…"}],"period":"YYYY-MM"}]}</c>.
/// Keys in ordinal order at every level; periods ascending (the invoice's own and each earlier one it
/// adjusts); rows ordered by their keys' values (ordinal); every number a string in invariant culture
/// without trailing zeros ("5368709120"), so the numeric column's scale never changes the hash.
/// </summary>
public static class CanonicalUsage
{
    public static string Write(string accountId, IEnumerable<AccountUsage> periods)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("accountId", accountId);
            w.WriteStartArray("periods");
            foreach (var u in periods.OrderBy(p => p.Period))
            {
                if (u.AccountId != accountId) throw new ArgumentException($"usage of {u.AccountId} among {accountId}'s", nameof(periods));
                w.WriteStartObject();
                w.WriteStartArray("crossAz");
                foreach (var c in u.CrossAz.OrderBy(c => c.Region, StringComparer.Ordinal))
                {
                    w.WriteStartObject();
                    w.WriteString("bytes", Number(c.Bytes));
                    w.WriteString("region", c.Region);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteStartArray("dataProcessed");
                foreach (var d in u.DataProcessed.OrderBy(d => d.Pool, StringComparer.Ordinal).ThenBy(d => d.Region, StringComparer.Ordinal))
                {
                    w.WriteStartObject();
                    w.WriteString("bytes", Number(d.Bytes));
                    w.WriteString("pool", d.Pool);
                    w.WriteString("region", d.Region);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteStartArray("endpointHours");
                foreach (var h in u.EndpointHours.OrderBy(h => h.AzId, StringComparer.Ordinal).ThenBy(h => h.EndpointType.ToString(), StringComparer.Ordinal).ThenBy(h => h.Region, StringComparer.Ordinal))
                {
                    w.WriteStartObject();
                    w.WriteString("azId", h.AzId);
                    w.WriteString("endpointType", h.EndpointType.ToString());
                    w.WriteString("hours", Number(h.Hours));
                    w.WriteString("region", h.Region);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteString("period", u.Period.ToString());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The SHA-256 of <see cref="Write"/>'s UTF-8 bytes, lower-case hex.</summary>
    public static string Sha256(string accountId, IEnumerable<AccountUsage> periods) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Write(accountId, periods))));

    /// <summary>A decimal without trailing zeros: 5368709120.0 and 5368709120 are the same quantity.</summary>
    public static string Number(decimal value) => value.ToString("0.############################", CultureInfo.InvariantCulture);
}
