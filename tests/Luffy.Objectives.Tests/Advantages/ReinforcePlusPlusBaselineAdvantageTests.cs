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

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void Equal_rewards_whiten_to_zero_in_half_precision(ScalarType dtype)
    {
        // the 1e-8 epsilon rounds to 0 in float16: 0·rsqrt(0) gave NaN for every sequence
        var batch = new RewardBatch(full(4, 0.5, dtype: dtype), tensor(new long[] { 0, 0, 1, 1 })) { ResponseMask = ones(4, 3, dtype: ScalarType.Bool) };
        using AdvantageResult result = new ReinforcePlusPlusBaselineAdvantage().Compute(batch);
        Assert.Equal(dtype, result.Advantages.dtype);
        Assert.All(Tensors.ToArray(result.Advantages), a => Assert.Equal(0.0, a));
    }

    [Fact]
    public void Half_precision_whitening_matches_float32_within_half_precision_rounding()
    {
        var rewards = new[] { 0.0, 1.0, 1.0, 0.5, 0.25, 1.0 };
        var groups = tensor(new long[] { 0, 0, 0, 1, 1, 1 });
        Tensor mask = ones(6, 4, dtype: ScalarType.Bool);
        using AdvantageResult single = new ReinforcePlusPlusBaselineAdvantage().Compute(new RewardBatch(tensor(rewards, dtype: ScalarType.Float32), groups) { ResponseMask = mask });
        using AdvantageResult half = new ReinforcePlusPlusBaselineAdvantage().Compute(new RewardBatch(tensor(rewards, dtype: ScalarType.Float16), groups) { ResponseMask = mask });
        // whitened values are O(1); float16 keeps 11 significant bits (relative rounding 2^-11 per operation, a few operations)
        AssertClose.Array(Tensors.ToArray(single.Advantages), Tensors.ToArray(half.Advantages), 4 * Math.Pow(2, -11));
    }
}
