using Billing.Events;
using Billing.Metering;
using CsCheck;
using static Billing.Invoicing.Tests.Samples;

namespace Billing.Invoicing.Tests;

public class PricingProperties
{
    static readonly Gen<decimal> AnyBytes = Gen.Long[0, 8_000_000_000_000_000].Select(b => (decimal)b);

    [Fact]
    public void Tiers_split_the_total_exactly_and_fill_in_order()
    {
        var schedule = PriceBook.Default.For("us-east-1", October2026).Processing("Interface");
        AnyBytes.Sample(bytes =>
        {
            var gb = Gigabytes.FromBytes(bytes);
            var shares = schedule.Split(gb);
            Assert.Equal(gb, shares.Sum(s => s.Gb));
            Assert.All(shares, s => Assert.True(s.Gb > 0));
            Assert.Equal(Enumerable.Range(1, shares.Count), shares.Select(s => s.Tier));
            if (shares.Count > 1) Assert.Equal(1_048_576m, shares[0].Gb);
            if (shares.Count > 2) Assert.Equal(4_194_304m, shares[1].Gb);
        });
    }

    [Fact]
    public void Totals_add_up_and_lines_are_cents()
    {
        var hours = Gen.Select(Gen.Int[0, 2], Gen.Int[0, 744]).Select((t, h) => new EndpointHoursUsage("eu-west-1", (EndpointType)t, "euw1-az1", h));
        var gen = Gen.Select(hours.Array[0, 3], AnyBytes, AnyBytes, Gen.OneOf("JP", "DE"));
        gen.Sample((h, processed, cross, country) =>
        {
            var usage = Usage(hours: h.DistinctBy(x => x.EndpointType),
                processed: [new DataProcessedUsage("eu-west-1", "Resource", processed)],
                crossAz: [new CrossAzUsage("eu-west-1", cross)]);
            var c = InvoiceCalculator.Calculate(usage, PriceBook.Default, country);
            Assert.All(c.Lines, l => Assert.Equal(Math.Round(l.Amount, 2), l.Amount));
            Assert.Equal(c.Lines.Sum(l => l.Amount), c.Subtotal);
            Assert.Equal(c.Subtotal + c.Tax, c.Total);
            Assert.Equal(c.Lines, LineOrder.Sort(c.Lines));
        });
    }
}
