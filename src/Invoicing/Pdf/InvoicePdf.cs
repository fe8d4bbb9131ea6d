using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NodaTime;
using PdfSharp;
using PdfSharp.Drawing;
using PdfSharp.Pdf;

namespace Billing.Invoicing;

/// <summary>
/// Renders an issued invoice as an A4 PDF with PDFsharp 6.2.4 (MIT): seller and bill-to blocks,
/// invoice number, issue date, period and currency; a table of lines grouped by region whose header
/// repeats on every page; subtotal, tax (or "Tax: not applicable") and total; "Page x of y".
/// Deterministic: the same invoice and seller give the same bytes (dates and document id come from the invoice).
/// </summary>
public static class InvoicePdf
{
    // Geometry in points (A4, origin top left).
    const double PageWidth = 595.28, PageHeight = 841.89;
    const double Left = 50, Right = PageWidth - 50, Top = 48;
    const double ContentBottom = PageHeight - 62, FooterBaseline = PageHeight - 34;
    const double RightBlock = 330;

    // Table columns: description (wraps), quantity and rate and amount right-aligned, unit left-aligned.
    const double DescLeft = Left + 6, DescIndent = Left + 14, DescRight = 284;
    const double QtyRight = 386, UnitLeft = 392, RateRight = 468, AmountRight = Right - 6;
    const double TableSize = 8.5, TableLine = 11, RowPad = 3.5, HeaderHeight = 19;
    const double TotalsHeight = 86;

    static readonly XColor Ink = XColor.FromArgb(30, 33, 38);
    static readonly XBrush InkBrush = new XSolidBrush(Ink);
    static readonly XBrush MutedBrush = new XSolidBrush(XColor.FromArgb(105, 110, 118));
    static readonly XBrush HeaderFill = new XSolidBrush(XColor.FromArgb(232, 236, 242));
    static readonly XBrush BoxFill = new XSolidBrush(XColor.FromArgb(244, 246, 249));
    static readonly XPen RulePen = new(XColor.FromArgb(214, 218, 224), 0.5);
    static readonly XPen StrongPen = new(Ink, 0.9);

    public static byte[] Render(Invoice invoice, Seller seller)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        ArgumentNullException.ThrowIfNull(seller);
        InvoiceFonts.EnsureRegistered();

        using var document = new PdfSharp.Pdf.PdfDocument();
        var documentId = Describe(document, invoice, seller);
        var pages = new List<PdfPage>();

        var g = XGraphics.FromPdfPage(NewPage(document, pages));
        try
        {
            var text = new PdfText(g);
            var rows = InvoiceRows.Of(invoice);
            var layouts = rows.Select(r => Layout(text, r)).ToArray();

            var y = FirstPageHeader(text, invoice, seller);
            y = TableHeader(text, y);

            // A new page with the continuation header and the table header; where the table goes on.
            double NextPage()
            {
                g.Dispose();
                g = XGraphics.FromPdfPage(NewPage(document, pages));
                text = new PdfText(g);
                return TableHeader(text, ContinuationHeader(text, invoice, seller));
            }

            for (var i = 0; i < rows.Count; i++)
            {
                // Keep a region heading with its first line, and the last line with the totals.
                var need = layouts[i].Height;
                var last = i == rows.Count - 1;
                if (rows[i].IsRegion && !last) { need += layouts[i + 1].Height; last = i + 1 == rows.Count - 1; }
                if (last) need += TotalsHeight;
                if (y + need > ContentBottom)
                {
                    y = NextPage();
                    if (!rows[i].IsRegion)
                    {
                        // A region that goes on from the previous page says so.
                        var region = new TableRow(true, $"{rows.Take(i).Last(r => r.IsRegion).Description} (continued)");
                        y = Row(text, region, Layout(text, region), y);
                    }
                }
                y = Row(text, rows[i], layouts[i], y);
            }
            if (rows.Count == 0)
            {
                var none = new TableRow(false, "No charges in this period", Amount: InvoiceRows.Amount(0));
                y = Row(text, none, Layout(text, none), y);
            }
            if (y + TotalsHeight > ContentBottom) y = NextPage();
            Totals(text, invoice, y);
        }
        finally
        {
            g.Dispose();
        }

        for (var i = 0; i < pages.Count; i++)
        {
            using var footer = XGraphics.FromPdfPage(pages[i], XGraphicsPdfPageOptions.Append);
            Footer(new PdfText(footer), invoice, seller, i + 1, pages.Count);
        }

        // Most of a save is deflating the embedded font subsets (PDFsharp keeps every glyph slot, so a
        // subset of 60 glyphs is a 60 KB program, mostly zeros). zlib's fastest level: a third less
        // rendering time for about a fifth more bytes (47 -> 57 KB for one page); still deterministic.
        document.Options.FlateEncodeMode = PdfFlateEncodeMode.BestSpeed;
        using var output = new MemoryStream();
        document.Save(output, closeStream: false);
        return ReproduciblePdf.Fix(output.ToArray(), documentId);
    }

    static PdfPage NewPage(PdfSharp.Pdf.PdfDocument document, List<PdfPage> pages)
    {
        var page = document.AddPage();
        page.Size = PageSize.A4;
        pages.Add(page);
        return page;
    }

    /// <summary>Metadata, dates and the file identifier all come from the invoice, so rendering is repeatable.</summary>
    static Guid Describe(PdfSharp.Pdf.PdfDocument document, Invoice invoice, Seller seller)
    {
        var issued = invoice.IssuedAt.ToDateTimeUtc();
        document.Info.Title = $"Invoice {invoice.Number}";
        document.Info.Subject = $"Invoice {invoice.Number} for account {invoice.AccountId}, period {invoice.Period}";
        document.Info.Author = seller.Name;
        document.Info.Creator = "Billing.Invoicing";
        document.Info.CreationDate = issued;
        document.Info.ModificationDate = issued;
        // The file identifier: 16 bytes (one char per byte, as PDFsharp keeps it) hashed from the invoice.
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{invoice.Number}|{invoice.AccountId}|{invoice.IssuedAt}"));
        var id = new string(hash.Take(16).Select(b => (char)b).ToArray());
        document.Internals.FirstDocumentID = id;
        document.Internals.SecondDocumentID = id;
        return new Guid(hash.AsSpan(0, 16));
    }

    static double FirstPageHeader(PdfText t, Invoice invoice, Seller seller)
    {
        // Seller, top left.
        var y = Top + 14;
        foreach (var line in t.Wrap(seller.Name, RightBlock - Left - 20, 13, bold: true))
        {
            t.Draw(line, Left, y, 13, bold: true, InkBrush);
            y += 16;
        }
        y += 1;
        var sellerLines = Addresses.Lines(seller.Address).ToList();
        if (seller.TaxRegistration is { Length: > 0 } reg) sellerLines.Add($"Registration No. {reg}");
        if (seller.Contact is { Length: > 0 } contact) sellerLines.Add(contact);
        foreach (var line in sellerLines.SelectMany(l => t.Wrap(l, RightBlock - Left - 20, 8.5)))
        {
            t.Draw(line, Left, y, 8.5, brush: MutedBrush);
            y += 11.5;
        }

        // Title and invoice facts, top right.
        t.Draw("INVOICE", Right, Top + 18, 22, bold: true, InkBrush, TextAlign.Right);
        var facts = new (string Label, string Value)[]
        {
            ("Invoice number", invoice.Number),
            ("Issue date", IsoDate(invoice.IssuedAt)),
            ("Billing period", PeriodText(invoice)),
            ("Account ID", invoice.AccountId),
            ("Currency", invoice.Currency),
        };
        var fy = Top + 44;
        foreach (var (label, value) in facts)
        {
            t.Draw(label, RightBlock + 10, fy, 8.5, brush: MutedBrush);
            t.DrawFitted(value, Right, fy, 9, Right - RightBlock - 84, bold: label == "Invoice number", brush: InkBrush);
            fy += 14;
        }

        y = Math.Max(y, fy) + 10;
        t.Graphics.DrawLine(RulePen, Left, y, Right, y);
        y += 20;

        // Bill to, left; amount due box, right.
        var boxTop = y - 8;
        t.Draw("BILL TO", Left, y, 7.5, bold: true, MutedBrush);
        y += 15;
        foreach (var line in t.Wrap(invoice.Name, RightBlock - Left - 20, 10.5, bold: true))
        {
            t.Draw(line, Left, y, 10.5, bold: true, InkBrush);
            y += 14;
        }
        foreach (var line in Addresses.Lines(invoice.BillTo).SelectMany(l => t.Wrap(l, RightBlock - Left - 20, 9)))
        {
            t.Draw(line, Left, y, 9, brush: InkBrush);
            y += 12;
        }
        t.Draw($"Account {invoice.AccountId}", Left, y, 8.5, brush: MutedBrush);
        y += 12;

        var boxHeight = 62.0;
        t.Graphics.DrawRectangle(BoxFill, RightBlock + 4, boxTop, Right - RightBlock - 4, boxHeight);
        t.Draw($"Total due ({invoice.Currency})", RightBlock + 14, boxTop + 20, 8.5, brush: MutedBrush);
        t.DrawFitted(InvoiceRows.Amount(invoice.Total), Right - 10, boxTop + 47, 20, Right - RightBlock - 30, bold: true, brush: InkBrush);

        return Math.Max(y, boxTop + boxHeight) + 18;
    }

    static double ContinuationHeader(PdfText t, Invoice invoice, Seller seller)
    {
        var y = Top + 10;
        t.DrawFitted(seller.Name, Left, y, 9.5, 250, bold: true, brush: InkBrush, align: TextAlign.Left);
        t.Draw($"Invoice {invoice.Number} · period {invoice.Period} · continued", Right, y, 8.5, brush: MutedBrush, align: TextAlign.Right);
        y += 8;
        t.Graphics.DrawLine(RulePen, Left, y, Right, y);
        return y + 12;
    }

    static double TableHeader(PdfText t, double y)
    {
        t.Graphics.DrawRectangle(HeaderFill, Left, y, Right - Left, HeaderHeight);
        var baseline = y + 12.5;
        t.Draw("Description", DescLeft, baseline, 8, bold: true, InkBrush);
        t.Draw("Quantity", QtyRight, baseline, 8, bold: true, InkBrush, TextAlign.Right);
        t.Draw("Unit", UnitLeft, baseline, 8, bold: true, InkBrush);
        t.Draw("Rate (USD)", RateRight, baseline, 8, bold: true, InkBrush, TextAlign.Right);
        t.Draw("Amount (USD)", AmountRight, baseline, 8, bold: true, InkBrush, TextAlign.Right);
        return y + HeaderHeight;
    }

    sealed record RowLayout(IReadOnlyList<string> Lines, double Height);

    static RowLayout Layout(PdfText t, TableRow row)
    {
        var left = row.IsRegion ? DescLeft : DescIndent;
        var right = row.IsRegion ? AmountRight : DescRight;
        var lines = t.Wrap(row.Description, right - left, TableSize, bold: row.IsRegion);
        var height = lines.Count * TableLine + 2 * RowPad + (row.IsRegion ? 6 : 0);
        return new RowLayout(lines, height);
    }

    static double Row(PdfText t, TableRow row, RowLayout layout, double y)
    {
        var top = y + (row.IsRegion ? 6 : 0);
        var baseline = top + RowPad + TableSize;
        if (row.IsRegion)
        {
            for (var i = 0; i < layout.Lines.Count; i++)
                t.Draw(layout.Lines[i], DescLeft, baseline + i * TableLine, TableSize, bold: true, InkBrush);
            var under = y + layout.Height;
            t.Graphics.DrawLine(StrongPen, Left, under, Right, under);
            return under;
        }

        for (var i = 0; i < layout.Lines.Count; i++)
            t.Draw(layout.Lines[i], DescIndent, baseline + i * TableLine, TableSize, brush: InkBrush);
        t.DrawFitted(row.Quantity, QtyRight, baseline, TableSize, QtyRight - DescRight - 4, brush: InkBrush);
        t.Draw(row.Unit, UnitLeft, baseline, TableSize, brush: InkBrush);
        t.DrawFitted(row.Rate, RateRight, baseline, TableSize, RateRight - UnitLeft - 34, brush: InkBrush);
        t.DrawFitted(row.Amount, AmountRight, baseline, TableSize, AmountRight - RateRight - 8, brush: InkBrush);
        var bottom = y + layout.Height;
        t.Graphics.DrawLine(RulePen, Left, bottom, Right, bottom);
        return bottom;
    }

    static void Totals(PdfText t, Invoice invoice, double y)
    {
        var labelX = RightBlock + 10;
        y += 20;
        t.Draw("Subtotal", labelX, y, 9, brush: InkBrush);
        t.Draw(InvoiceRows.Amount(invoice.Subtotal), AmountRight, y, 9, brush: InkBrush, align: TextAlign.Right);
        y += 16;
        var taxLabel = invoice.TaxApplies
            ? $"Consumption tax {Percent(invoice.TaxRate)} ({invoice.TaxCountry})"
            : "Tax: not applicable";
        t.Draw(taxLabel, labelX, y, 9, brush: InkBrush);
        t.Draw(InvoiceRows.Amount(invoice.Tax), AmountRight, y, 9, brush: InkBrush, align: TextAlign.Right);
        y += 9;
        t.Graphics.DrawLine(StrongPen, RightBlock + 4, y, Right, y);
        y += 15;
        t.Draw($"Total ({invoice.Currency})", labelX, y, 10.5, bold: true, InkBrush);
        t.Draw(InvoiceRows.Amount(invoice.Total), AmountRight, y, 10.5, bold: true, InkBrush, TextAlign.Right);
        y += 22;
        t.Draw("All amounts in US dollars. Prices exclude tax.", Right, y, 7.5, brush: MutedBrush, align: TextAlign.Right);
    }

    static void Footer(PdfText t, Invoice invoice, Seller seller, int page, int pages)
    {
        t.Graphics.DrawLine(RulePen, Left, FooterBaseline - 12, Right, FooterBaseline - 12);
        t.DrawFitted($"{seller.Name} · Invoice {invoice.Number}", Left, FooterBaseline, 7.5, 380, brush: MutedBrush, align: TextAlign.Left);
        t.Draw(string.Create(CultureInfo.InvariantCulture, $"Page {page} of {pages}"), Right, FooterBaseline, 7.5, brush: MutedBrush, align: TextAlign.Right);
    }

    static string IsoDate(Instant at) => at.InUtc().Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    static string PeriodText(Invoice invoice)
    {
        var p = invoice.Period;
        var lastDay = DateTime.DaysInMonth(p.Year, p.Month);
        return string.Create(CultureInfo.InvariantCulture, $"{p} (1–{lastDay} {CultureInfo.InvariantCulture.DateTimeFormat.GetAbbreviatedMonthName(p.Month)} {p.Year})");
    }

    static string Percent(decimal rate) => (rate * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";
}
