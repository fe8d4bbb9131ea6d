using System.Security.Cryptography;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Marten;
using Wolverine;
using Wolverine.Marten;

namespace Billing.Host.Features;

/// <summary>Render and store the PDFs of invoices just issued: sent in the issuing transaction (the outbox), so none is lost.</summary>
public sealed record RenderInvoicePdfs(IReadOnlyList<string> Numbers);

/// <summary>Integration message for downstream consumers, published once an invoice and its PDF are stored.</summary>
public sealed record InvoiceIssuedNotice(string Number, string AccountId, string Period, decimal Total, string Currency);

/// <summary>The issued invoices of a <see cref="RenderInvoicePdfs"/> that have no PDF yet.</summary>
public sealed record PendingPdfs(IReadOnlyList<IssuedInvoice> Invoices);

/// <summary>
/// Renders each PDF from the invoice exactly as issued (its JSON in <see cref="InvoiceIssued"/>): a
/// PDF is a pure, reproducible function of the invoice and the seller, so rendering it after the
/// commit gives the bytes rendering it before would have. Runs on every core, outside the numbers' lock.
/// </summary>
public static class RenderInvoicePdfsHandler
{
    public static void Configure(Wolverine.Runtime.Handlers.HandlerChain chain) => Issuing.RetryStoreFailures(chain);

    public static async Task<PendingPdfs> LoadAsync(RenderInvoicePdfs command, IQuerySession session, CancellationToken ct)
    {
        var numbers = command.Numbers.ToArray();
        var invoices = await session.Query<IssuedInvoice>().Where(x => x.Number.IsOneOf(numbers)).ToListAsync(ct);
        // Rendered already when this message is handled a second time (a retry after the commit was lost).
        return new PendingPdfs(invoices.Where(i => !i.HasPdf).OrderBy(i => i.Number, StringComparer.Ordinal).ToList());
    }

    public static (IEnumerable<IMartenOp>, OutgoingMessages) Handle(RenderInvoicePdfs command, PendingPdfs pending, Seller seller, CancellationToken ct)
    {
        var issued = pending.Invoices;
        var pdfs = new byte[issued.Count][];
        // One renderer per core: two groups render side by side, and more threads than cores only
        // queued on PDFsharp's font lock (docs/performance.md).
        Parallel.For(0, issued.Count, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount }, i => pdfs[i] = InvoicePdf.Render(InvoiceJson.Read(issued[i].Json), seller));
        var ops = new List<IMartenOp>(issued.Count * 2);
        var outgoing = new OutgoingMessages();
        for (var i = 0; i < issued.Count; i++)
        {
            var invoice = issued[i];
            ops.Add(new StorePdf(invoice.Number, pdfs[i]));
            ops.Add(MartenOps.Append(invoice.Id, new InvoicePdfRendered(invoice.Number, Convert.ToHexStringLower(SHA256.HashData(pdfs[i])))));
            outgoing.Add(new InvoiceIssuedNotice(invoice.Number, invoice.AccountId, invoice.Period, invoice.Total, Money.Currency));
        }
        return (ops, outgoing);
    }

    sealed record StorePdf(string Number, byte[] Pdf) : IMartenOp
    {
        public void Execute(IDocumentSession session) => InvoicePdfsTable.Add(session, Number, Pdf);
    }
}
