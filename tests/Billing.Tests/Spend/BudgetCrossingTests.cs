using Billing.Invoicing.Budgets;
using Billing.Invoicing.Spend;
using Billing.Metering;
using NodaTime;

namespace Billing.Tests.Spend;

/// <summary>The threshold-crossing decision and the checks of a budget's terms, over plain data (no database).</summary>
public sealed class BudgetCrossingTests
{
    static readonly BillingPeriod December = new(2026, 12);
    static readonly Instant Now = Instant.FromUtc(2026, 12, 10, 8, 0);
    const string Account = "111122223333";

    static Budget Budget(decimal amount, BudgetBasis basis = BudgetBasis.Actual, string account = Account, params int[] thresholds) =>
        Billing.Invoicing.Budgets.Budget.Create(new BudgetCreated(Guid.CreateVersion7(), account, amount, thresholds.Length == 0 ? [50, 80, 100] : thresholds, basis, null, Now, "cli:test"));

    static MonthToDate Spend(decimal actualTotal, decimal forecastTotal, string account = Account) =>
        new(account, December, Now, [], new SpendAmounts(actualTotal, 0, actualTotal), new SpendAmounts(forecastTotal, 0, forecastTotal), "estimate: test");

    static readonly IReadOnlySet<string> NoneRaised = new HashSet<string>();

    [Fact]
    public void A_threshold_is_crossed_when_the_cost_reaches_it_not_a_cent_before()
    {
        var budget = Budget(100.00m, thresholds: 80);

        var (below, left) = BudgetCrossings.Decide([budget], Spend(79.99m, 500m), NoneRaised);
        Assert.Empty(below);
        Assert.Equal(new Headroom(0.01m, null), left);

        var (at, after) = BudgetCrossings.Decide([budget], Spend(80.00m, 500m), NoneRaised);
        var crossing = Assert.Single(at);
        Assert.Equal((budget.BudgetId, Account, December, 80, BudgetBasis.Actual, 100.00m, 80.00m),
            (crossing.BudgetId, crossing.AccountId, crossing.Period, crossing.Threshold, crossing.Basis, crossing.Amount, crossing.Cost));
        Assert.Equal(Headroom.None, after);
        Assert.Equal($"budget-alert/{budget.BudgetId:N}/2026-12/80/actual", crossing.StreamKey);
    }

    [Fact]
    public void A_cost_that_jumps_past_several_thresholds_raises_each_of_them_and_leaves_the_headroom_to_the_next()
    {
        var budget = Budget(250.00m);

        var (crossed, left) = BudgetCrossings.Decide([budget], Spend(212.40m, 0m), NoneRaised);

        Assert.Equal([50, 80], crossed.Select(c => c.Threshold));
        Assert.All(crossed, c => Assert.Equal(212.40m, c.Cost));
        Assert.Equal(new Headroom(37.60m, null), left);
    }

    [Fact]
    public void A_raised_threshold_is_never_raised_again_whatever_the_cost_does_after()
    {
        var budget = Budget(100.00m, thresholds: [50, 80]);
        var raised = new HashSet<string> { BudgetAlert.StreamKey(budget.BudgetId, December, 50, BudgetBasis.Actual) };

        Assert.Equal([80], BudgetCrossings.Decide([budget], Spend(95m, 0m), raised).Crossed.Select(c => c.Threshold));
        // Fallen back below 50 (traffic un-billed): nothing, and the raised 50 leaves no headroom of its own.
        var (fallen, left) = BudgetCrossings.Decide([budget], Spend(10m, 0m), raised);
        Assert.Empty(fallen);
        Assert.Equal(new Headroom(70m, null), left);
        // Another period is another alert.
        var january = Spend(60m, 0m) with { Period = new BillingPeriod(2027, 1) };
        Assert.Equal([50], BudgetCrossings.Decide([budget], january, raised).Crossed.Select(c => c.Threshold));
    }

    [Fact]
    public void Each_budget_watches_its_own_basis_and_account_and_a_deleted_one_nothing()
    {
        var onForecast = Budget(100m, BudgetBasis.Forecast, thresholds: 100);
        var onActual = Budget(100m, BudgetBasis.Actual, thresholds: 100);
        var otherAccount = Budget(1m, account: "444455556666", thresholds: 1);
        var deleted = Budget(1m, thresholds: 1);
        deleted.Apply(new BudgetDeleted(deleted.BudgetId, Now, "cli:test"));

        var (crossed, left) = BudgetCrossings.Decide([onForecast, onActual, otherAccount, deleted], Spend(40m, 130m), NoneRaised);

        var c = Assert.Single(crossed);
        Assert.Equal((onForecast.BudgetId, BudgetBasis.Forecast, 130m), (c.BudgetId, c.Basis, c.Cost));
        Assert.Equal($"budget-alert/{onForecast.BudgetId:N}/2026-12/100/forecast", c.StreamKey);
        Assert.Equal(new Headroom(60m, null), left);
    }

    [Fact]
    public void A_budget_watches_the_period_it_was_set_in_the_one_before_and_every_later_one_only()
    {
        var budget = Budget(10m, thresholds: 50); // set on 10 December
        MonthToDate In(int year, int month) => Spend(100m, 100m) with { Period = new BillingPeriod(year, month) };

        Assert.Equal(new BillingPeriod(2026, 11), BudgetCrossings.FirstWatched(budget));
        Assert.Empty(BudgetCrossings.Decide([budget], In(2026, 10), NoneRaised).Crossed);
        Assert.Equal(Headroom.None, BudgetCrossings.Decide([budget], In(2026, 10), NoneRaised).Left);
        Assert.Single(BudgetCrossings.Decide([budget], In(2026, 11), NoneRaised).Crossed);
        Assert.Single(BudgetCrossings.Decide([budget], In(2027, 3), NoneRaised).Crossed);
    }

    [Fact]
    public void The_levels_are_exact_percentages_of_the_amount()
    {
        Assert.Equal(32.9967m, BudgetCrossings.Level(99.99m, 33));
        Assert.Equal(80.008m, BudgetCrossings.Level(100.01m, 80));
        Assert.Equal(150.00m, BudgetCrossings.Level(100.00m, 150));
    }

    [Theory]
    [InlineData("12345", "100.00", null, null, null, "'12345' is not an account id (12 digits)")]
    [InlineData(Account, "100.001", null, null, null, "amount 100.001 has more than two decimal places (cents)")]
    [InlineData(Account, "-5", null, null, null, "amount '-5' is not a decimal number of USD like 100.00")]
    [InlineData(Account, "1e3", null, null, null, "amount '1e3' is not a decimal number of USD like 100.00")]
    [InlineData(Account, "0.00", null, null, null, "amount 0.00 must be above 0 and at most 1000000000000")]
    [InlineData(Account, "100", "0", null, null, "threshold '0' is not a whole percentage of the amount from 1 to 1000")]
    [InlineData(Account, "100", "80,1001", null, null, "threshold '1001' is not a whole percentage of the amount from 1 to 1000")]
    [InlineData(Account, "100", "80,80.5", null, null, "threshold '80.5' is not a whole percentage of the amount from 1 to 1000")]
    [InlineData(Account, "100", "50,80,50", null, null, "threshold 50 is given twice")]
    [InlineData(Account, "100", "1,2,3,4,5,6,7,8,9,10,11", null, null, "a budget has 1 to 10 thresholds, not 11")]
    [InlineData(Account, "100", null, "predicted", null, "basis 'predicted' is not actual or forecast")]
    [InlineData(Account, "100", null, null, "tab\there", "a budget's name is at most 100 characters, none of them a control character")]
    public void Terms_that_cannot_be_a_budget_are_refused_with_the_reason(string account, string amount, string? thresholds, string? basis, string? name, string reason)
    {
        var (terms, refused) = BudgetTerms.Check(account, amount, thresholds?.Split(','), basis, name);
        Assert.Null(terms);
        Assert.Equal(reason, refused);
    }

    [Fact]
    public void Good_terms_take_the_defaults_in_order_and_amounts_in_cents()
    {
        var defaults = BudgetTerms.Check(Account, "100", null, null, " ").Terms!;
        Assert.Equal((Account, 100.00m, BudgetBasis.Actual, (string?)null), (defaults.AccountId, defaults.Amount, defaults.Basis, defaults.Name));
        Assert.Equal([50, 80, 100], defaults.Thresholds);
        var (terms, _) = BudgetTerms.Check(Account, "12.5", ["120", "90"], "forecast", " team cap ");
        Assert.Equal((12.50m, BudgetBasis.Forecast, "team cap"), (terms!.Amount, terms.Basis, terms.Name));
        Assert.Equal([90, 120], terms.Thresholds);
    }
}
