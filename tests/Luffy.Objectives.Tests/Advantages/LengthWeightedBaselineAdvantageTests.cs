namespace Luffy.Objectives.Tests.Advantages;

public class LengthWeightedBaselineAdvantageTests
{
    [Fact]
    public void Matches_an_independent_double_computation() =>
        EstimatorAssertions.MatchesReference(new LengthWeightedBaselineAdvantage(), g => g.Opo());

    [Fact]
    public void Baseline_weighs_rewards_by_response_length()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 }))
        {
            ResponseMask = tensor(new[,] { { 1L, 1L, 1L }, { 1L, 0L, 0L } }),
        };
        using AdvantageResult result = new LengthWeightedBaselineAdvantage().Compute(batch);
        Assert.Equal(new[] { 1 - 0.75, -0.75 }, Tensors.ToArray(result.Advantages));
    }

    [Fact]
    public void A_group_of_one_uses_baseline_zero()
    {
        var batch = new RewardBatch(tensor(new[] { 0.5 }), tensor(new long[] { 3 })) { ResponseMask = ones(1, 4, dtype: ScalarType.Bool) };
        using AdvantageResult result = new LengthWeightedBaselineAdvantage().Compute(batch);
        Assert.Equal(new[] { 0.5 }, Tensors.ToArray(result.Advantages));
    }

    [Fact]
    public void Missing_response_mask_is_rejected() =>
        Assert.Contains("ResponseMask", Assert.Throws<ArgumentException>(() => new LengthWeightedBaselineAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0 }), tensor(new long[] { 0 })))).Message);
}
