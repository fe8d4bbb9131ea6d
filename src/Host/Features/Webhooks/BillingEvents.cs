using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Billing.Events;
using Billing.Host.Features.Budgets;
using Billing.Invoicing;
using NodaTime;

namespace Billing.Host.Features.Webhooks;

/// <summary>
/// An event customers are told about, by webhook and on the broker's exchange <c>billing.events</c>.
/// <see cref="Key"/> names the event forever (e.g. <c>invoice.issued/INV-2026-000042</c>): the
/// webhook-id is derived from it, so an event raised twice is one message.
/// </summary>
public sealed record BillingEvent(string Type, string Key, string AccountId, Instant Timestamp, JsonObject Data)
{
    public const string InvoiceIssued = "invoice.issued";
    public const string InvoicePdfReady = "invoice.pdf_ready";
    public const string BudgetThresholdCrossed = "budget.threshold_crossed";

    public static readonly IReadOnlyList<string> Types = [BudgetThresholdCrossed, InvoiceIssued, InvoicePdfReady];

    /// <summary>The webhook-id: <c>msg_</c> and 128 bits of the key's SHA-256, the same for every endpoint and every retry.</summary>
    public string MessageId => "msg_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Key)))[..32];

    /// <summary>The body every delivery posts, byte for byte (Standard Webhooks' payload: type, timestamp, data).</summary>
    public string Body() => new JsonObject
    {
        ["type"] = Type,
        ["timestamp"] = RecordParser.Format(Timestamp),
        ["data"] = Data.DeepClone(),
    }.ToJsonString(RecordJson.Options);

    /// <summary><c>invoice.issued</c>: the invoice's number and totals, at its issue (its PDF follows in <c>invoice.pdf_ready</c>).</summary>
    public static BillingEvent Issued(Invoice invoice) => new(InvoiceIssued, $"{InvoiceIssued}/{invoice.Number}", invoice.AccountId, invoice.IssuedAt, new JsonObject
    {
        ["number"] = invoice.Number,
        ["accountId"] = invoice.AccountId,
        ["period"] = invoice.Period.ToString(),
        ["issuedAt"] = RecordParser.Format(invoice.IssuedAt),
        ["currency"] = invoice.Currency,
        ["subtotal"] = Money.Format(invoice.Subtotal),
        ["tax"] = Money.Format(invoice.Tax),
        ["total"] = Money.Format(invoice.Total),
    });

    /// <summary><c>invoice.pdf_ready</c>: the PDF is stored and served at <c>GET /api/invoices/{number}/pdf</c>; its SHA-256 lets a receiver check what it fetched.</summary>
    public static BillingEvent PdfReady(InvoiceIssuedNotice notice, string pdfSha256, Instant storedAt) => new(InvoicePdfReady, $"{InvoicePdfReady}/{notice.Number}", notice.AccountId, storedAt, new JsonObject
    {
        ["number"] = notice.Number,
        ["accountId"] = notice.AccountId,
        ["period"] = notice.Period,
        ["currency"] = notice.Currency,
        ["total"] = Money.Format(notice.Total),
        ["pdfSha256"] = pdfSha256,
        ["pdf"] = $"/api/invoices/{notice.Number}/pdf",
    });

    /// <summary><c>budget.threshold_crossed</c>: the alert as the spend side raised it, once per (budget, period, threshold, basis).</summary>
    public static BillingEvent Crossed(BudgetThresholdCrossed alert) => new(BudgetThresholdCrossed,
        $"{BudgetThresholdCrossed}/{alert.BudgetId:N}/{alert.Period}/{alert.Threshold}/{alert.Basis}", alert.AccountId, alert.CrossedAt, new JsonObject
        {
            ["budgetId"] = alert.BudgetId.ToString(),
            ["accountId"] = alert.AccountId,
            ["period"] = alert.Period,
            ["threshold"] = alert.Threshold,
            ["basis"] = alert.Basis,
            ["amount"] = alert.Amount,
            ["cost"] = alert.Cost,
            ["currency"] = alert.Currency,
            ["crossedAt"] = RecordParser.Format(alert.CrossedAt),
        });
}

/// <summary>Events raised in a transaction (the invoices it issued), sent through its outbox to the fan-out.</summary>
public sealed record RaiseBillingEvents(IReadOnlyList<BillingEvent> Events);

/// <summary>One event for the broker's topic exchange <c>billing.events</c>: its body as webhooks post it, routed by its type.</summary>
public sealed record PublishedBillingEvent(string Type, string MessageId, string Body);
