using Billing.Invoicing;
using Billing.Invoicing.Budgets;
using Billing.Invoicing.Spend;
using Billing.Metering;
using NodaTime;

namespace Billing.Host.Features.Budgets;

/// <summary>
/// What the budget evaluator remembers of its last exact reading of each (account, period), so that
/// the traffic of most batches needs no reading at all (docs/spend.md): the headroom left before the
/// next threshold not raised yet, and the worst case the traffic since could have added. A touch is
/// admitted to an exact reading when that worst case reaches the headroom, when the account has no
/// reading yet, when a lifecycle record touched it that only a reading can tell (<see cref="SpendTouch.Exact"/>),
/// or when a running period has entered a new clock
/// hour (its endpoint-hours step up then). The worst case prices every GB at the dearest rate of the
/// price book, cross-AZ bytes in both directions, a new endpoint's AZs for a whole month each at the
/// dearest hourly rate, adds the dearest tax (and, when the account's country may have changed, that tax
/// on the whole total), and allows a cent of rounding per line: a reading is never skipped where a
/// threshold could have been reached. The memory only
/// saves readings; the alerts' exactly-once does not depend on it (<see cref="EvaluateBudgetsHandler"/>).
/// It lives in the one process that evaluates (an exclusive listener). It is trusted only while this
/// process evaluated every message since it was made: each evaluation moves the row of
/// <see cref="Table"/> to (this process, next generation) in its own transaction, under that row's lock,
/// and one that finds the row anywhere else (the queue was read by another node meanwhile, or this
/// process's last evaluation rolled back) forgets everything and reads afresh.
/// </summary>
public sealed class BudgetGates
{
    public const string Table = "billing.budget_evaluator";

    /// <summary>This process as the evaluator's last writer.</summary>
    public Guid Writer { get; } = Guid.NewGuid();

    long _generation = -1;
    /// <summary>Japan's 10%, the highest rate of <see cref="TaxRules"/>.</summary>
    const decimal DearestTax = 0.10m;

    /// <summary>Lines a reading can gain before the next one (new tiers, pools, regions), each rounded up by at most a cent.</summary>
    const int NewLines = 12;

    readonly decimal _perProcessedGb;
    readonly decimal _perCrossAzGb;
    readonly decimal _perHour;
    readonly object _lock = new();
    readonly Dictionary<(string Account, BillingPeriod Period), Gate> _gates = new();

    sealed class Gate
    {
        public required Headroom Left { get; init; }
        public required decimal ForecastFactor { get; init; }
        public required Instant? Hour { get; init; }
        public required int Lines { get; init; }

        /// <summary>The larger of the reading's actual and forecast totals: what a change of tax country raises by at most the dearest rate.</summary>
        public required decimal Total { get; init; }
        public decimal Pending { get; set; }
    }

    public BudgetGates(PriceBook priceBook)
    {
        var versions = priceBook.Regions.SelectMany(priceBook.Versions).ToList();
        _perProcessedGb = versions.SelectMany(v => v.DataProcessing.Values.SelectMany(s => s.Tiers)).Select(t => t.Rate).DefaultIfEmpty(0).Max();
        _perCrossAzGb = 2 * versions.Select(v => v.CrossAzPerGb).DefaultIfEmpty(0).Max();
        _perHour = versions.SelectMany(v => v.Hourly.Values).DefaultIfEmpty(0).Max();
    }

    /// <summary>
    /// Given the evaluator's row as this evaluation's transaction locked it, forgets every reading unless
    /// this process wrote it last; returns the generation this evaluation writes.
    /// </summary>
    public long Continue(Guid writer, long generation)
    {
        lock (_lock)
        {
            if (writer != Writer || generation != _generation) _gates.Clear();
            return _generation = generation + 1;
        }
    }

    /// <summary>The evaluator's row, read and locked in the evaluation's transaction: (writer, generation), or (empty, 0) before the first.</summary>
    public static async Task<(Guid Writer, long Generation)> LastWriterAsync(Npgsql.NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new Npgsql.NpgsqlCommand($"select writer, generation from {Table} where id = 1 for update", connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetGuid(0), reader.GetInt64(1)) : (Guid.Empty, 0);
    }

    /// <summary>Queues the move of the evaluator's row to this process and <paramref name="generation"/>: it commits or rolls back with the evaluation.</summary>
    public void MoveWriter(Marten.IDocumentOperations ops, long generation) =>
        ops.QueueSqlCommand($"insert into {Table} (id, writer, generation) values (1, ?, ?) on conflict (id) do update set writer = excluded.writer, generation = excluded.generation",
            Writer, generation);

    public static Weasel.Postgresql.Tables.Table Definition()
    {
        var t = new Weasel.Postgresql.Tables.Table(Table);
        t.AddColumn<int>("id").AsPrimaryKey();
        t.AddColumn<Guid>("writer").NotNull();
        t.AddColumn<long>("generation").NotNull();
        return t;
    }

    /// <summary>The most a touch's bytes and new endpoint-AZ-hours can add to an account's total.</summary>
    public decimal WorstCase(SpendTouch touch) =>
        (touch.ProcessedBytes / Gigabytes.BytesPerGb * _perProcessedGb + touch.CrossAzBytes / Gigabytes.BytesPerGb * _perCrossAzGb + touch.EndpointAzHours * _perHour) * (1 + DearestTax);

    /// <summary>Folds a touch of <paramref name="period"/> (where its cost lands) into the gate; true when an exact reading is needed.</summary>
    public bool Admit(SpendTouch touch, BillingPeriod period, Instant now)
    {
        lock (_lock)
        {
            if (!_gates.TryGetValue((touch.AccountId, period), out var gate) || touch.Exact) return true;
            if (gate.Hour is { } hour && EndpointHours.FloorToHour(now) != hour) return true;
            gate.Pending += WorstCase(touch) + (touch.Tax ? (gate.Total + gate.Pending) * DearestTax : 0);
            var worst = gate.Pending + (gate.Lines + NewLines) * 0.01m * (1 + DearestTax) + 0.01m;
            return (gate.Left.Actual is { } actual && worst >= actual) || (gate.Left.Forecast is { } forecast && worst * gate.ForecastFactor >= forecast);
        }
    }

    /// <summary>After an exact reading committed: what is left before the next thresholds, from that reading on.</summary>
    public void Remember(string account, MonthToDate spend, Headroom left, Instant now)
    {
        var reading = new SpendWindow(spend.Period, now);
        var gate = new Gate
        {
            Left = left,
            // Traffic in the trailing window raises the forecast by itself again for each window's worth of hours to come.
            ForecastFactor = reading.Ended || spend.InvoiceNumber is not null ? 1 : 1 + reading.RemainingHours / (decimal)Math.Max(1, reading.TrailingHours),
            Hour = reading.Ended || spend.InvoiceNumber is not null ? null : reading.Hour,
            Lines = spend.Lines.Count,
            Total = Math.Max(Math.Max(spend.Actual.Total, spend.Forecast.Total), 0),
        };
        lock (_lock) _gates[(account, spend.Period)] = gate;
    }

    /// <summary>Forgets an account (its budgets changed, or it has none): its next touch is read exactly.</summary>
    public void Forget(string account)
    {
        lock (_lock)
            foreach (var key in _gates.Keys.Where(k => k.Account == account).ToList()) _gates.Remove(key);
    }

    /// <summary>Forgets the periods before <paramref name="oldest"/>: they take no more records.</summary>
    public void Prune(BillingPeriod oldest)
    {
        lock (_lock)
            foreach (var key in _gates.Keys.Where(k => k.Period < oldest).ToList()) _gates.Remove(key);
    }
}
