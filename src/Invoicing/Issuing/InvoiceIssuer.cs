using Billing.Metering;
using Billing.Metering.Accounts;
using NodaTime;

namespace Billing.Invoicing.Issuing;

/// <summary>What became of asking for one account's invoice of one period: a closed set of cases.</summary>
public abstract record IssueOutcome
{
    IssueOutcome() { }

    public sealed record Issued(string Number, decimal Total) : IssueOutcome
    {
        public override string ToString() => "issued";
    }

    /// <summary>Another close (or an earlier one) issued it; the number is that invoice's.</summary>
    public sealed record AlreadyIssued(string? Number) : IssueOutcome
    {
        public override string ToString() => "already issued";
    }

    /// <summary>Not yet: asked again by the next close.</summary>
    public sealed record Waiting(string Reason) : IssueOutcome
    {
        public override string ToString() => $"waiting: {Reason}";
    }

    public sealed record NothingToInvoice : IssueOutcome
    {
        public override string ToString() => "nothing to invoice";
    }
}

/// <summary>The outcome of asking for one account's invoice of one period.</summary>
public sealed record IssueResult(string AccountId, BillingPeriod Period, IssueOutcome Outcome)
{
    public string? Number => Outcome switch
    {
        IssueOutcome.Issued i => i.Number,
        IssueOutcome.AlreadyIssued a => a.Number,
        _ => null,
    };

    public decimal? Total => Outcome is IssueOutcome.Issued i ? i.Total : null;
}

/// <summary>
/// What a close computed for one account's invoice of its period: the account's usage and the
/// adjustment lines for earlier closed periods. Carried by the close's issuing messages so the
/// issuer prices it as is instead of reading the period's traffic again. <see cref="Earlier"/> is the
/// usage of each earlier period the adjustments adjust, as recomputed for them: part of what the
/// invoice priced, so its provenance hashes it too (messages sent before issue 14 have none).
/// </summary>
public sealed record AccountCharges(string AccountId, AccountUsage Usage, IReadOnlyList<InvoiceLine> Adjustments, IReadOnlyList<AccountUsage>? Earlier = null)
{
    /// <summary>The usage of the earlier periods <paramref name="adjustments"/> adjust, from the late facts the adjustments were computed from.</summary>
    public static IReadOnlyList<AccountUsage> EarlierUsage(Closing.LateFacts late, string accountId, IReadOnlyList<InvoiceLine> adjustments) =>
        adjustments.Select(l => l.Adjusts).OfType<BillingPeriod>().Distinct().Order()
            .Select(p => late.Earlier.FirstOrDefault(e => e.Period == p)?.Usage.GetValueOrDefault(accountId) ?? AccountUsage.Empty(accountId, p))
            .ToList();

    /// <summary>Every period's usage this invoice priced: its own and the earlier ones it adjusts.</summary>
    public IEnumerable<AccountUsage> Priced => [Usage, .. Earlier ?? []];
}

/// <summary>
/// What issuing needs to know, read in the issuing transaction: the payers' profiles, the invoices of
/// the period that exist already (read after the year's counter was locked, so a concurrent issuer
/// of the same invoice has committed by then), the locked sequence and the instant of issue.
/// </summary>
public sealed record IssuingState(
    IReadOnlyDictionary<string, AccountProfile> Profiles,
    IReadOnlyDictionary<string, string> IssuedNumbers,
    NumberSequence Numbers,
    Instant IssuedAt);

/// <summary>The outcome per account (in the order asked), the invoices to issue, and the sequence after their numbers.</summary>
public sealed record IssueDecision(IReadOnlyList<IssueResult> Results, IReadOnlyList<Invoice> Invoices, NumberSequence Numbers);

/// <summary>
/// How invoices are issued, as one pure decision: each account's charges priced (its usage and the
/// adjustments for earlier periods) with the tax of its address at the period end; an account with an
/// invoice of the period already, none opened, or nothing due gets none; the others get the next
/// numbers of the locked sequence, in the order asked. Issuing twice is harmless: the second time
/// every account is <see cref="IssueOutcome.AlreadyIssued"/>.
/// </summary>
public static class InvoiceIssuer
{
    /// <param name="eventSequence">
    /// the event-store position the charges were read at (docs/provenance.md); each invoice records it
    /// with the hash of the usage it priced. Null for charges read before issue 14: no provenance.
    /// </param>
    /// <param name="rules">the billing rules' fingerprint; <see cref="Provenance.Fingerprints.Rules"/> unless a test says otherwise</param>
    public static IssueDecision Decide(BillingPeriod period, IReadOnlyList<AccountCharges> accounts, IssuingState state, PriceBook priceBook,
        long? eventSequence = null, string? rules = null)
    {
        var outcomes = new IssueOutcome[accounts.Count];
        var due = new List<(int Index, AccountProfile Profile, InvoiceContent Content, Provenance.InvoiceProvenance? Provenance)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < accounts.Count; i++)
        {
            var (accountId, usage, adjustments, _) = accounts[i];
            if (usage.AccountId != accountId || usage.Period != period)
                throw new ArgumentException($"the charges of {accountId} hold {usage.AccountId}'s usage of {usage.Period}, not of {period}", nameof(accounts));
            if (!seen.Add(accountId))
                throw new ArgumentException($"account {accountId} appears twice among the charges", nameof(accounts));
            if (state.IssuedNumbers.TryGetValue(accountId, out var number)) outcomes[i] = new IssueOutcome.AlreadyIssued(number);
            else if (!state.Profiles.TryGetValue(accountId, out var profile)) outcomes[i] = new IssueOutcome.Waiting("the account is not opened yet");
            else
            {
                var content = InvoiceCalculator.Calculate(usage, priceBook, BillTo(profile, period).Country, adjustments);
                if (content.IsDue) due.Add((i, profile, content, eventSequence is { } seq
                    ? new Provenance.InvoiceProvenance(seq, Provenance.CanonicalUsage.Sha256(accountId, accounts[i].Priced), priceBook.Fingerprint, rules ?? Provenance.Fingerprints.Rules)
                    : null));
                else outcomes[i] = new IssueOutcome.NothingToInvoice();
            }
        }

        var (numbers, after) = state.Numbers.Take(due.Count);
        var invoices = new Invoice[due.Count];
        for (var d = 0; d < due.Count; d++)
        {
            var (index, profile, content, provenance) = due[d];
            invoices[d] = Invoice.Issue(content, numbers[d], profile.Name, BillTo(profile, period), state.IssuedAt) with { Provenance = provenance };
            outcomes[index] = new IssueOutcome.Issued(invoices[d].Number, invoices[d].Total);
        }
        return new IssueDecision(accounts.Select((a, i) => new IssueResult(a.AccountId, period, outcomes[i])).ToList(), invoices, after);
    }

    /// <summary>The payer's billing address in effect at the end of the period: it decides the tax and is printed on the invoice.</summary>
    public static Billing.Events.BillingAddress BillTo(AccountProfile profile, BillingPeriod period) => profile.AddressAt(period.End - Duration.Epsilon);
}
