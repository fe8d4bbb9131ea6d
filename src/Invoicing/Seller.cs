using Billing.Events;

namespace Billing.Invoicing;

/// <summary>
/// Who issues the invoice, printed at the top of the PDF: name, address and, optionally, a tax
/// registration number (e.g. a Japanese qualified-invoice issuer number "T1234567890123") and a contact.
/// </summary>
public sealed record Seller(string Name, BillingAddress Address, string? TaxRegistration = null, string? Contact = null);
