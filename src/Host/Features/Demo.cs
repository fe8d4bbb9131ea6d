using System.ComponentModel;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Marten;
using NodaTime;
using Spectre.Console.Cli;

namespace Billing.Host.Features;

/// <summary>
/// The quick start's main job: a month of synthetic usage for a few dozen accounts published
/// through the bus, a usage summary per account, then the period closed into invoices whose PDFs
/// are written to out/demo/invoices/YYYY-MM.
/// </summary>
public static class Demo
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--accounts <N>"), Description("synthetic accounts"), DefaultValue(36), Positive]
        public int Accounts { get; init; } = 36;

        [CommandOption("--period <YYYY-MM>"), Description("the billing period; default last month")]
        public string? Period { get; init; }

        [CommandOption("--out <DIR>"), Description("where the usage file and the PDFs go; default out/demo")]
        public string? Out { get; init; }
    }

    /// <summary>The verb with its words bound by the CLI's parser (for in-process callers such as tests).</summary>
    public static Task<int> RunAsync(IServiceProvider services, CliArgs args, CancellationToken ct) => RunAsync(services, args.Bind<Settings>(), ct);

    public static async Task<int> RunAsync(IServiceProvider services, Settings args, CancellationToken ct)
    {
        var clock = services.GetRequiredService<IClock>();
        var period = args.Period is { } p
            ? (BillingPeriod.TryParse(p, out var parsed) ? parsed : throw new CliException($"'{p}' is not a billing period like 2026-10"))
            : BillingPeriod.Of(clock.GetCurrentInstant()).Previous;
        var accounts = args.Accounts;
        var outDir = args.Out ?? Path.Combine("out", "demo");
        var file = Path.Combine(outDir, $"usage-{period}.jsonl");

        var synthetic = new SyntheticUsage(period, accounts);
        var written = synthetic.WriteJsonLines(file);
        Console.WriteLine($"wrote {written:N0} usage records for {accounts} accounts in {period} to {file}");

        var import = await ImportUsage.ImportAsync(services, file, ImportUsage.BatchSize, ct);
        Console.WriteLine($"imported through the bus in {import.Elapsed.TotalSeconds:0.0} s ({import.RecordsPerSecond:N0} records/s): " +
                          $"{import.Accepted:N0} accepted, {import.Duplicates:N0} duplicate, {import.Rejected:N0} rejected");

        await using var session = services.GetRequiredService<IDocumentStore>().QuerySession();
        var usage = await UsageQueries.ForPeriodAsync(session, period, services.GetRequiredService<BillingSettings>().LateWindow, ct);
        Console.WriteLine();
        Console.WriteLine($"Usage in {period} (as payer; cross-AZ as owner)");
        Console.WriteLine($"{"account",-14}{"endpoint-hours",16}{"GB processed",22}{"cross-AZ GB",20}");
        foreach (var u in usage.Values.OrderBy(u => u.AccountId, StringComparer.Ordinal))
            Console.WriteLine($"{u.AccountId,-14}{u.EndpointHours.Sum(h => h.Hours),16:N0}" +
                              $"{Gigabytes.FromBytes(u.DataProcessed.Sum(d => d.Bytes)),22:N3}{Gigabytes.FromBytes(u.CrossAz.Sum(c => c.Bytes)),20:N3}");
        Console.WriteLine($"{"total",-14}{usage.Values.Sum(u => u.EndpointHours.Sum(h => h.Hours)),16:N0}" +
                          $"{Gigabytes.FromBytes(usage.Values.Sum(u => u.DataProcessed.Sum(d => d.Bytes))),22:N3}" +
                          $"{Gigabytes.FromBytes(usage.Values.Sum(u => u.CrossAz.Sum(c => c.Bytes))),20:N3}");

        Console.WriteLine();
        var invoices = await CloseCommand.CloseAsync(services, period, ct);
        var pdfDir = Path.Combine(outDir, "invoices", period.ToString());
        Directory.CreateDirectory(pdfDir);
        foreach (var invoice in invoices)
            await File.WriteAllBytesAsync(Path.Combine(pdfDir, $"{invoice.Number}.pdf"),
                await InvoicePdfsTable.ReadAsync(session, invoice.Number, ct) ?? [], ct);
        Console.WriteLine($"Invoices for {period} (PDFs in {pdfDir})");
        QueryInvoices.PrintTable(invoices);
        return 0;
    }
}
