namespace Billing.Invoicing;

/// <summary>
/// Splits text into runs by script so each run is drawn in a font that has its glyphs: Japanese
/// (kana, CJK ideographs, CJK punctuation, full-width forms; also Hangul) in the Japanese font,
/// everything else in DejaVu Sans. Spaces stay with the run they are in.
/// </summary>
static class TextRuns
{
    public static IReadOnlyList<(string Text, bool Cjk)> Split(string text)
    {
        var runs = new List<(string, bool)>();
        var start = 0;
        bool? current = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == ' ') continue; // neutral: joins the run it is in
            var cjk = IsCjk(c);
            if (current is { } cur && cur != cjk)
            {
                runs.Add((text[start..i], cur));
                start = i;
            }
            current = cjk;
        }
        if (start < text.Length) runs.Add((text[start..], current ?? false));
        return runs;
    }

    public static bool IsCjk(char c) =>
        c is (>= '\u1100' and <= '\u11FF')      // Hangul Jamo
            or (>= '\u2E80' and <= '\u2FDF')    // CJK radicals
            or (>= '\u3000' and <= '\u30FF')    // CJK symbols and punctuation, Hiragana, Katakana
            or (>= '\u3100' and <= '\u33FF')    // Bopomofo ... enclosed CJK, CJK compatibility (㈱, ㍻)
            or (>= '\u3400' and <= '\u4DBF')    // CJK Extension A
            or (>= '\u4E00' and <= '\u9FFF')    // CJK Unified Ideographs
            or (>= '\uAC00' and <= '\uD7AF')    // Hangul syllables
            or (>= '\uD800' and <= '\uDFFF')    // surrogates: supplementary ideographs
            or (>= '\uF900' and <= '\uFAFF')    // CJK Compatibility Ideographs
            or (>= '\uFE30' and <= '\uFE4F')    // CJK compatibility forms
            or (>= '\uFF00' and <= '\uFFEF');   // half-width and full-width forms
}
