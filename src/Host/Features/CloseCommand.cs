using System.ComponentModel;
using Billing.Invoicing;
using Billing.Invoicing.Issuing;
using Billing.Metering;
using Billing.Metering.Accounts;
using Marten;
using Marten.Events;
using NodaTime;
using Spectre.Console.Cli;
using Wolverine;
using Wolverine.Util;

namespace Billing.Host.Features;

/// <summary>`billing close --period YYYY-MM`: closes a period now, ignoring the grace period, and waits for every invoice.</summary>
public static class CloseCommand
{
    /// <summary>The exit code of a close that failed (2 is a usage error).</summary>
    public const int Failed = 1;

    /// <summary>The close committed, but issuing its invoices failed and Wolverine parked the message: waiting longer would wait forever.</summary>
    public sealed class CloseFailed(string message) : Exception(message);

    static readonly string[] IssuingTypes = [.. new[] { typeof(IssueInvoices), typeof(IssueInvoice), typeof(RenderInvoicePdfs) }.Select(t => t.ToMessageTypeName())];

    public sealed class Settings : CommandSettings
    {
        [CommandOption("--period <YYYY-MM>", isRequired: true), Description("the billing period to close; older than the late window it is refused")]
        public string? Period { get; init; }
    }

    /// <summary>The verb with its words bound by the CLI's parser (for in-process callers such as tests).</summary>
    public static Task<int> RunAsync(IServiceProvider services, CliArgs args, CancellationToken ct) => RunAsync(services, args.Bind<Settings>(), ct);

    public static async Task<int> RunAsync(IServiceProvider services, Settings args, CancellationToken ct)
    {
        var text = args.Period ?? throw new CliException("usage: billing close --period YYYY-MM");
        if (!BillingPeriod.TryParse(text, out var period)) throw new CliException($"'{text}' is not a billing period like 2026-10 (YYYY-MM)");
        var window = services.GetRequiredService<BillingSettings>().LateWindow;
        var now = services.GetRequiredService<IClock>().GetCurrentInstant();
        if (window.IsFrozen(period, now))
            throw new CliException($"{period} is frozen: it is older than the late window ({window.Periods} periods; the oldest open period is {window.OldestOpen(now)}), so it is never invoiced for the first time");
        IReadOnlyList<IssuedInvoice> issued;
        try
        {
            issued = await CloseAsync(services, period, Access.Actor.CurrentUser, ct);
        }
        catch (CloseFailed failed)
        {
            Console.Error.WriteLine($"billing: {failed.Message}");
            return Failed;
        }
        catch (Exception e) when (e is not (CliException or OperationCanceledException or OutOfMemoryException))
        {
            // The failure is recorded (CloseRetries) so /health/ready on every node reports it until a close succeeds.
            Console.Error.WriteLine($"billing: closing {period} failed: {CloseRetries.Describe(e)}");
            return Failed;
        }
        // The summary line keeps its shape for scripts; who closed goes to stderr and onto the close record.
        Console.WriteLine($"closed {period}: {issued.Count:N0} invoices issued");
        Console.Error.WriteLine($"billing: {period} closed by {Access.Actor.CurrentUser}");
        return 0;
    }

    /// <summary>Closes the period through the bus and waits until every due invoice is issued with its PDF; returns the period's invoices.</summary>
    /// <summary>As the CLI closes: in the name of the user running this process.</summary>
    public static Task<IReadOnlyList<IssuedInvoice>> CloseAsync(IServiceProvider services, BillingPeriod period, CancellationToken ct) =>
        CloseAsync(services, period, Access.Actor.CurrentUser, ct);

    /// <param name="by">who closes: recorded on the close and relayed to every event it causes</param>
    public static async Task<IReadOnlyList<IssuedInvoice>> CloseAsync(IServiceProvider services, BillingPeriod period, Access.Actor by, CancellationToken ct)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        var clock = services.GetRequiredService<IClock>();
        var started = clock.GetCurrentInstant();
        var parkedBefore = (await ParkedIssuingAsync(store, ct)).Select(p => p.Id).ToHashSet();
        using (var scope = services.CreateScope())
        {
            var bus = scope.ServiceProvider.GetRequiredService<IMessageContext>();
            bus.UserName = by.ToString();
            await bus.InvokeAsync(new ClosePeriod(period, by.ToString()), ct, TimeSpan.FromMinutes(30));
        }

        // The close recorded which accounts it asked invoices for; wait for each of them.
        IReadOnlyList<string> due;
        await using (var session = store.QuerySession())
        {
            var closed = await session.LoadAsync<ClosedPeriod>(period.ToString(), ct);
            due = closed is not null && closed.LastClosedAt >= started ? closed.AccountsDue : [];
        }

        using var progress = new CliProgress($"closing {period}", due.Count);
        while (true)
        {
            await using var session = store.QuerySession();
            // Polls the accounts invoiced so far, PDF stored (not the invoices themselves: with thousands of them that was most of the work).
            var issued = (await session.Query<IssuedInvoice>().Where(x => x.Period == period.ToString() && x.PdfSha256 != "").Select(x => x.AccountId).ToListAsync(ct))
                .ToHashSet(StringComparer.Ordinal);
            var done = due.Count(issued.Contains);
            progress.Report(done, "invoices issued");
            if (done >= due.Count)
            {
                progress.Done(done, "invoices issued");
                var invoices = await session.Query<IssuedInvoice>().Where(x => x.Period == period.ToString()).ToListAsync(ct);
                return invoices.OrderBy(i => i.Number, StringComparer.Ordinal).ToList();
            }
            if ((await ParkedIssuingAsync(store, ct)).Where(p => !parkedBefore.Contains(p.Id)).ToList() is [var parked, ..])
                throw new CloseFailed($"{period} is closed, but issuing its invoices failed: {parked.Error} (Wolverine parked {parked.Type[(parked.Type.LastIndexOf('.') + 1)..]} {parked.Id}; "
                                      + $"once the cause is fixed, billing dead-letters replay --messages --id {parked.Id} issues them)");
            // Each poll reads every invoice document of the period on the two cores the close needs, so once a second is enough.
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    /// <summary>Issuing messages Wolverine parked (in the message store's dead letters, not marked for replay).</summary>
    static async Task<IReadOnlyList<(Guid Id, string Type, string Error)>> ParkedIssuingAsync(IDocumentStore store, CancellationToken ct)
    {
        var schema = ((DocumentStore)store).Options.DatabaseSchemaName;
        await using var connection = store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new Npgsql.NpgsqlCommand(
            $"select id, message_type, coalesce(exception_type, ''), coalesce(exception_message, '') from {schema}.wolverine_dead_letters " +
            "where message_type = any(@types) and archived_at is null and not coalesce(replayable, false)", connection);
        command.Parameters.AddWithValue("types", IssuingTypes);
        var parked = new List<(Guid, string, string)>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var type = reader.GetString(2);
            parked.Add((reader.GetGuid(0), reader.GetString(1), $"{type[(type.LastIndexOf('.') + 1)..]}: {reader.GetString(3).Split('\n', 2)[0].Trim()}"));
        }
        return parked;
    }
}
