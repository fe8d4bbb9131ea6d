using System.ComponentModel;
using System.Globalization;
using Billing.Invoicing;
using Billing.Invoicing.Exporting;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using CsvHelper;
using Marten;
using Parquet.Serialization;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// `billing export focus --period YYYY-MM --out FILE [--format csv|parquet]`: the period's issued
/// invoices as a FinOps FOCUS 1.2 dataset (docs/focus.md). The rows come from the invoices exactly as
/// issued (<see cref="FocusExport"/>, pure), never from a recomputation, so they add up to the invoices.
/// </summary>
public static class ExportFocus
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--period <YYYY-MM>", isRequired: true), Description("the billing period whose issued invoices are exported")]
        public string? Period { get; init; }

        [CommandOption("--out <FILE>", isRequired: true), Description("the file to write (replaced if it exists)")]
        public string? Out { get; init; }

        [CommandOption("--format <FORMAT>"), Description("csv (the default) or parquet")]
        public string Format { get; init; } = "csv";
    }

    public static async Task<int> RunAsync(IServiceProvider services, Settings args, CancellationToken ct)
    {
        if (!BillingPeriod.TryParse(args.Period, out var period)) throw new CliException($"'{args.Period}' is not a billing period like 2026-10 (YYYY-MM)");
        var file = args.Out ?? throw new CliException("usage: billing export focus --period YYYY-MM --out FILE [--format csv|parquet]");
        var format = args.Format.ToLowerInvariant();
        if (format is not ("csv" or "parquet")) throw new CliException($"--format '{args.Format}' is not one of csv, parquet");
        if (Path.GetDirectoryName(Path.GetFullPath(file)) is { } dir && !Directory.Exists(dir)) throw new CliException($"--out {file}: the directory {dir} does not exist");

        var started = System.Diagnostics.Stopwatch.StartNew();
        var rows = await RowsAsync(services, period, ct);
        if (format == "csv") await WriteCsvAsync(rows, file, ct);
        else await WriteParquetAsync(rows, file, ct);
        Console.WriteLine($"wrote {file}: {rows.Count:N0} FOCUS rows of {rows.Select(r => r.InvoiceId).Distinct().Count():N0} invoices of {period}, {rows.Sum(r => r.BilledCost):N2} USD billed ({started.Elapsed.TotalSeconds:0.0} s)");
        return 0;
    }

    /// <summary>The FOCUS rows of the period's issued invoices, by invoice number.</summary>
    public static async Task<IReadOnlyList<FocusRow>> RowsAsync(IServiceProvider services, BillingPeriod period, CancellationToken ct)
    {
        var seller = services.GetRequiredService<Seller>();
        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var invoices = await QueryInvoices.ListAsync(session, period, ct);
        var rows = new List<FocusRow>();
        using var progress = new CliProgress($"exporting {period}", invoices.Count);
        for (var i = 0; i < invoices.Count; i++)
        {
            rows.AddRange(FocusExport.Rows(InvoiceJson.Read(invoices[i].Json), seller));
            progress.Report(i + 1, "invoices");
        }
        progress.Done(invoices.Count, "invoices");
        return rows;
    }

    static readonly System.Reflection.PropertyInfo[] Properties = typeof(FocusRow).GetProperties();

    /// <summary>RFC 4180 CSV, UTF-8, a header of the column names; datetimes as FOCUS says (2026-10-01T00:00:00Z), decimals invariant and in full, null as an empty field.</summary>
    public static async Task WriteCsvAsync(IEnumerable<FocusRow> rows, string file, CancellationToken ct)
    {
        await using var csv = CsvWriter.Create(new StreamWriter(file, append: false, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false)), null, leaveOpen: false);
        csv.WriteHeader(FocusRow.Columns.ToArray());
        foreach (var row in rows) csv.WriteRecord(Properties.Select(p => Field(p.GetValue(row))).ToArray());
        await csv.FlushAsync(ct);
    }

    /// <summary>A value as the CSV writes it, formatted here so no culture or converter default decides it.</summary>
    public static string? Field(object? value) => value switch
    {
        null => null,
        DateTime d => d.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        decimal m => m.ToString(CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture),
    };

    public static async Task WriteParquetAsync(IEnumerable<FocusRow> rows, string file, CancellationToken ct)
    {
        await using var stream = File.Create(file);
        await ParquetSerializer.SerializeAsync(rows, stream, cancellationToken: ct);
    }
}
