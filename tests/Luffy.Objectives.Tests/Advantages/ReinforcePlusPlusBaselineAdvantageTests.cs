namespace Luffy.Objectives.Tests.Advantages;

public class ReinforcePlusPlusBaselineAdvantageTests
{
    [Fact]
    public void Matches_an_independent_double_computation() =>
        EstimatorAssertions.MatchesReference(new ReinforcePlusPlusBaselineAdvantage(), g => g.ReinforcePlusPlus());

    [Fact]
    public void Whitened_token_advantages_have_zero_mean_and_unit_variance_over_tokens()
    {
        RewardGroups g = RewardGroups.Random(42, minGroupSize: 3);
        using AdvantageResult result = new ReinforcePlusPlusBaselineAdvantage().Compute(g.ToBatch(ScalarType.Float64));
        double[] a = Tensors.ToArray(result.Advantages);
        double[] tokens = Enumerable.Range(0, g.B).SelectMany(i => Enumerable.Repeat(a[i], g.Lengths[i])).ToArray();
        (double mean, double std) = RewardGroups.MeanStd(tokens);
        Assert.True(Math.Abs(mean) < 1e-10);
        Assert.True(Math.Abs(std - 1) < 1e-6);
    }

    [Fact]
    public void Missing_response_mask_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new ReinforcePlusPlusBaselineAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 }))));
        Assert.Contains("ResponseMask", ex.Message);
    }

    [Fact]
    public void Response_mask_with_another_batch_size_is_rejected()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 })) { ResponseMask = ones(3, 4, dtype: ScalarType.Bool) };
        var ex = Assert.Throws<ArgumentException>(() => new ReinforcePlusPlusBaselineAdvantage().Compute(batch));
        Assert.Contains("ResponseMask has shape [3, 4] but Rewards has shape [2]", ex.Message);
    }
}
