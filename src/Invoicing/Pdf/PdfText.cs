using PdfSharp.Drawing;
using PdfSharp.Pdf;

namespace Billing.Invoicing;

enum TextAlign { Left, Right }

/// <summary>
/// Draws and measures text on one page, choosing the font per run of characters
/// (<see cref="TextRuns"/>): Japanese runs in the Japanese font, the rest in DejaVu Sans.
/// </summary>
sealed class PdfText(XGraphics graphics)
{
    static readonly XPdfFontOptions Unicode = new(PdfFontEncoding.Unicode);

    // An XFont is a description (family, size, style) over PDFsharp's process-wide typeface cache; each
    // document makes its own PDF font from it. Built once per process rather than once per page.
    static readonly System.Collections.Concurrent.ConcurrentDictionary<(bool Cjk, double Size, bool Bold), XFont> Fonts = new();

    public XGraphics Graphics => graphics;

    static XFont Font(bool cjk, double size, bool bold) =>
        Fonts.GetOrAdd((cjk, size, bold), static k => new XFont(
            k.Cjk ? InvoiceFonts.Japanese : InvoiceFonts.Sans, k.Size, k.Bold ? XFontStyleEx.Bold : XFontStyleEx.Regular, Unicode));

    public double Width(string text, double size, bool bold = false) =>
        TextRuns.Split(text).Sum(run => graphics.MeasureString(run.Text, Font(run.Cjk, size, bold)).Width);

    /// <summary>Draws <paramref name="text"/> with its baseline at <paramref name="baseline"/>, starting (Left) or ending (Right) at <paramref name="x"/>.</summary>
    public void Draw(string text, double x, double baseline, double size, bool bold = false, XBrush? brush = null, TextAlign align = TextAlign.Left)
    {
        if (text.Length == 0) return;
        brush ??= XBrushes.Black;
        if (align == TextAlign.Right) x -= Width(text, size, bold);
        foreach (var (run, cjk) in TextRuns.Split(text))
        {
            var font = Font(cjk, size, bold);
            graphics.DrawString(run, font, brush, new XPoint(x, baseline), XStringFormats.BaseLineLeft);
            x += graphics.MeasureString(run, font).Width;
        }
    }

    /// <summary>Draws text (right-aligned unless told), shrinking it (down to 6 pt) if it would not fit in <paramref name="maxWidth"/>.</summary>
    public void DrawFitted(string text, double x, double baseline, double size, double maxWidth, bool bold = false, XBrush? brush = null,
        TextAlign align = TextAlign.Right)
    {
        while (size > 6 && Width(text, size, bold) > maxWidth) size -= 0.25;
        Draw(text, x, baseline, size, bold, brush, align);
    }

    /// <summary>
    /// Breaks text into lines no wider than <paramref name="maxWidth"/>: at spaces, and inside a word
    /// (e.g. Japanese, which has no spaces) only when the word alone is too wide.
    /// </summary>
    public IReadOnlyList<string> Wrap(string text, double maxWidth, double size, bool bold = false)
    {
        var lines = new List<string>();
        var current = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = current.Length == 0 ? word : $"{current} {word}";
            if (Width(candidate, size, bold) <= maxWidth) { current = candidate; continue; }
            if (current.Length > 0) lines.Add(current);
            current = word;
            while (Width(current, size, bold) > maxWidth && current.Length > 1)
            {
                var cut = current.Length - 1;
                while (cut > 1 && Width(current[..cut], size, bold) > maxWidth) cut--;
                if (char.IsHighSurrogate(current[cut - 1]) && cut > 1) cut--;
                lines.Add(current[..cut]);
                current = current[cut..];
            }
        }
        if (current.Length > 0 || lines.Count == 0) lines.Add(current);
        return lines;
    }
}
