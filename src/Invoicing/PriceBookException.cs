namespace Billing.Invoicing;

/// <summary>A price book that cannot be read, or a price that a price book does not have.</summary>
public sealed class PriceBookException : Exception
{
    public PriceBookException(string message) : this([message]) { }

    public PriceBookException(IReadOnlyList<string> errors) : base(string.Join(Environment.NewLine, errors)) => Errors = errors;

    /// <summary>Every problem found, one sentence each ("price book: region 'x' version 2026-10: ...").</summary>
    public IReadOnlyList<string> Errors { get; }
}
