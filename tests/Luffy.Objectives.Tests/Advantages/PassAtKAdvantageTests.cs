namespace Luffy.Objectives.Tests.Advantages;

public class PassAtKAdvantageTests
{
    [Fact]
    public void Matches_an_independent_double_computation() =>
        EstimatorAssertions.MatchesReference(new PassAtKAdvantage(), g => g.PassAtK(true, 1e-6), minGroupSize: 2);

    [Fact]
    public void Matches_an_independent_double_computation_without_std() =>
        EstimatorAssertions.MatchesReference(new PassAtKAdvantage(normalizeByStd: false), g => g.PassAtK(false, 1e-6), minGroupSize: 2);

    [Fact]
    public void Only_the_first_best_sample_gets_the_gap_to_the_second()
    {
        using AdvantageResult result = new PassAtKAdvantage(normalizeByStd: false).Compute(new RewardBatch(tensor(new[] { 0.2, 0.9, 0.5, 0.9, 0.1 }), tensor(new long[] { 3, 3, 3, 8, 8 })));
        Assert.Equal(new[] { 0.0, 0.9 - 0.5, 0.0, 0.9 - 0.1, 0.0 }, Tensors.ToArray(result.Advantages));
    }

    [Fact]
    public void A_group_of_one_is_rejected_naming_the_group()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PassAtKAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0, 0.0, 1.0 }), tensor(new long[] { 4, 4, 17 }))));
        Assert.Contains("group 17", ex.Message);
        Assert.Contains("G >= 2", ex.Message);
    }

    [Fact]
    public void A_uniform_group_stays_at_zero_with_epsilon_zero()
    {
        // gap 0 over std 0 was 0/0 = NaN, though a uniform group is documented to get exactly 0
        var batch = new RewardBatch(tensor(new[] { 1.0, 1.0, 1.0, 0.0, 1.0, 0.0 }), tensor(new long[] { 0, 0, 0, 1, 1, 1 }));
        using AdvantageResult result = new PassAtKAdvantage(normalizeByStd: true, epsilon: 0).Compute(batch);
        double[] advantages = Tensors.ToArray(result.Advantages);
        Assert.Equal(new[] { 0.0, 0.0, 0.0 }, advantages.Take(3));
        Assert.Equal(1 / Math.Sqrt(1.0 / 3), advantages[4], 12); // the second group: gap 1 over the unbiased std sqrt(1/3)
    }
}
