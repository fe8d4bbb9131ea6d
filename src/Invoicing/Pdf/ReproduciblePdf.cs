using System.Security.Cryptography;
using System.Text;

namespace Billing.Invoicing;

/// <summary>
/// Makes a PDFsharp 6.2 file repeatable. PDFsharp writes two random things that no option turns off:
/// each embedded font subset's six-letter tag ("QMFJSK+DejaVuSans", from Guid.NewGuid()) and the
/// XMP metadata's DocumentID/InstanceID ("uuid:..."). Both are replaced in place by values derived
/// from the document: same length, so the cross-reference offsets stay valid.
/// </summary>
static class ReproduciblePdf
{
    static readonly byte[] BaseFont = "/BaseFont/"u8.ToArray();
    static readonly byte[] Uuid = "<xmpMM:DocumentID>uuid:"u8.ToArray();
    static readonly byte[] InstanceUuid = "<xmpMM:InstanceID>uuid:"u8.ToArray();

    public static byte[] Fix(byte[] pdf, Guid documentId)
    {
        var result = (byte[])pdf.Clone();
        FixSubsetTags(result);
        FixXmpIds(result, documentId);
        return result;
    }

    static void FixSubsetTags(byte[] pdf)
    {
        var tags = new List<(byte[] Old, byte[] New)>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (var at = IndexOf(pdf, BaseFont, 0); at >= 0; at = IndexOf(pdf, BaseFont, at + 1))
        {
            var start = at + BaseFont.Length;
            if (!IsTag(pdf, start)) continue;
            var old = pdf[(start - 1)..(start + 7)]; // "/ABCDEF+"
            if (tags.Any(t => t.Old.AsSpan().SequenceEqual(old))) continue;
            var tag = Tag(FontName(pdf, start + 7), tags.Count, used);
            tags.Add((old, Encoding.ASCII.GetBytes($"/{tag}+")));
        }
        // The tag appears as "/ABCDEF+Name" in the font, CID font and font descriptor dictionaries.
        foreach (var (old, replacement) in tags)
            for (var at = IndexOf(pdf, old, 0); at >= 0; at = IndexOf(pdf, old, at + 1))
                replacement.CopyTo(pdf, at);
    }

    static void FixXmpIds(byte[] pdf, Guid documentId)
    {
        var text = Encoding.ASCII.GetBytes(documentId.ToString("D"));
        foreach (var marker in new[] { Uuid, InstanceUuid })
        {
            var at = IndexOf(pdf, marker, 0);
            if (at >= 0 && at + marker.Length + text.Length <= pdf.Length) text.CopyTo(pdf, at + marker.Length);
        }
    }

    static string Tag(string fontName, int ordinal, HashSet<string> used)
    {
        for (var attempt = 0; ; attempt++)
        {
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{fontName}|{ordinal}|{attempt}"));
            var tag = new string(hash.Take(6).Select(b => (char)('A' + b % 26)).ToArray());
            if (used.Add(tag)) return tag;
        }
    }

    static bool IsTag(byte[] pdf, int start)
    {
        if (start + 7 > pdf.Length || pdf[start + 6] != (byte)'+') return false;
        for (var i = start; i < start + 6; i++)
            if (pdf[i] is < (byte)'A' or > (byte)'Z') return false;
        return true;
    }

    static string FontName(byte[] pdf, int start)
    {
        var end = start;
        while (end < pdf.Length && pdf[end] is not ((byte)'/' or (byte)'>' or (byte)'[' or (byte)' ' or (byte)'\n' or (byte)'\r')) end++;
        return Encoding.ASCII.GetString(pdf, start, end - start);
    }

    static int IndexOf(byte[] haystack, byte[] needle, int from) =>
        from >= haystack.Length ? -1 : haystack.AsSpan(from).IndexOf(needle) is var i and >= 0 ? i + from : -1;
}
