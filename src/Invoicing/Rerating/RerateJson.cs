using System.Text;
using System.Text.Json;

namespace Billing.Invoicing.Rerating;

/// <summary>
/// The re-rating's JSON: {"period","accounts":[{"accountId","current","rerated","difference"}],
/// "totals":{"current","rerated","difference"}}, every amount a string with two places (spec section 10).
/// </summary>
public static class RerateJson
{
    public static string Write(RerateResult result)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("period", result.Period.ToString());
            w.WriteStartArray("accounts");
            foreach (var a in result.Accounts)
            {
                w.WriteStartObject();
                w.WriteString("accountId", a.AccountId);
                WriteTotals(w, "current", a.Current);
                WriteTotals(w, "rerated", a.Rerated);
                w.WriteString("difference", Money.Format(a.Difference));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("totals");
            WriteTotals(w, "current", result.Current);
            WriteTotals(w, "rerated", result.Rerated);
            w.WriteString("difference", Money.Format(result.Difference));
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    static void WriteTotals(Utf8JsonWriter w, string name, Totals t)
    {
        w.WriteStartObject(name);
        w.WriteString("subtotal", Money.Format(t.Subtotal));
        w.WriteString("tax", Money.Format(t.Tax));
        w.WriteString("total", Money.Format(t.Total));
        w.WriteEndObject();
    }
}
