namespace Luffy.Objectives.Tests.Advantages;

public class LeaveOneOutAdvantageTests
{
    [Fact]
    public void Matches_an_independent_double_computation() =>
        EstimatorAssertions.MatchesReference(new LeaveOneOutAdvantage(), g => g.Rloo());

    [Fact]
    public void Each_advantage_is_the_reward_minus_the_mean_of_the_others()
    {
        using AdvantageResult result = new LeaveOneOutAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0, 0.0, 0.0, 2.0 }), tensor(new long[] { 0, 0, 0, 9 })));
        double[] a = Tensors.ToArray(result.Advantages);
        Assert.Equal(1.0, a[0], 14);
        Assert.Equal(-0.5, a[1], 14);
        Assert.Equal(2.0, a[3]); // a group of one keeps its reward (the reference's rule)
    }

    [Property(MaxTest = 50)]
    public Property Rloo_advantages_have_zero_mean_per_group() =>
        Prop.ForAll(Gen.Choose(0, 100_000).ToArbitrary(), seed =>
        {
            RewardGroups g = RewardGroups.Random(seed, minGroupSize: 2);
            using AdvantageResult result = new LeaveOneOutAdvantage().Compute(g.ToBatch(ScalarType.Float64));
            double[] a = Tensors.ToArray(result.Advantages);
            return g.Members().All(m => Math.Abs(m.Average(i => a[i])) < 1e-10);
        });
}
