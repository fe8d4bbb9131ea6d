using PdfSharp.Fonts;

namespace Billing.Invoicing;

/// <summary>
/// The fonts of the invoice PDF, served to PDFsharp from TTF files embedded in this assembly
/// (PDFsharp on Linux has no system fonts: platform-notes pitfall 6). DejaVu Sans (regular, bold)
/// for Latin, Greek and Cyrillic text; VL PGothic for Japanese (bold is simulated).
/// Registration is idempotent and thread-safe; if the process already set another font resolver,
/// this one becomes the fallback resolver (its family names are unique to the invoices).
/// </summary>
public sealed class InvoiceFonts : IFontResolver
{
    public const string Sans = "Billing Invoice Sans";
    public const string Japanese = "Billing Invoice Japanese";

    static readonly InvoiceFonts Instance = new();
    static readonly object Gate = new();
    static volatile bool _registered;

    static readonly Dictionary<string, string> Files = new(StringComparer.Ordinal)
    {
        ["DejaVuSans"] = "DejaVuSans.ttf",
        ["DejaVuSans-Bold"] = "DejaVuSans-Bold.ttf",
        ["VL-PGothic-Regular"] = "VL-PGothic-Regular.ttf",
    };

    readonly Dictionary<string, byte[]> _bytes = new(StringComparer.Ordinal);

    InvoiceFonts() { }

    /// <summary>Makes the invoice fonts known to PDFsharp; call before creating any XFont (InvoicePdf does).</summary>
    public static void EnsureRegistered()
    {
        if (_registered) return;
        lock (Gate)
        {
            if (_registered) return;
            if (GlobalFontSettings.FontResolver is null || ReferenceEquals(GlobalFontSettings.FontResolver, Instance))
                GlobalFontSettings.FontResolver = Instance;
            else if (GlobalFontSettings.FallbackFontResolver is null || ReferenceEquals(GlobalFontSettings.FallbackFontResolver, Instance))
                GlobalFontSettings.FallbackFontResolver = Instance;
            else
                throw new InvalidOperationException(
                    "PDFsharp already has a font resolver and a fallback font resolver; the invoice fonts cannot be registered. " +
                    $"Let your resolver delegate the families '{Sans}' and '{Japanese}' to {nameof(InvoiceFonts)}.{nameof(Resolver)}.");
            _registered = true;
        }
    }

    /// <summary>The resolver, for a process that has its own PDFsharp font resolver and wants to delegate to it.</summary>
    public static IFontResolver Resolver => Instance;

    public FontResolverInfo? ResolveTypeface(string familyName, bool bold, bool italic) => familyName switch
    {
        Sans => new FontResolverInfo(bold ? "DejaVuSans-Bold" : "DejaVuSans"),
        Japanese => new FontResolverInfo("VL-PGothic-Regular", mustSimulateBold: bold, mustSimulateItalic: false),
        _ => null,
    };

    public byte[]? GetFont(string faceName)
    {
        if (!Files.TryGetValue(faceName, out var file)) return null;
        lock (_bytes)
        {
            if (_bytes.TryGetValue(faceName, out var cached)) return cached;
            using var stream = typeof(InvoiceFonts).Assembly.GetManifestResourceStream($"Billing.Invoicing.Fonts.{file}")
                ?? throw new InvalidOperationException($"font {file} is not embedded in {typeof(InvoiceFonts).Assembly.GetName().Name}");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return _bytes[faceName] = copy.ToArray();
        }
    }
}
