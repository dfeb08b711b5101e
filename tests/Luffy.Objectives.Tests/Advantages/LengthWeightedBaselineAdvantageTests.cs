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
            ResponseMask = tensor(new[,] { { 1f, 1f, 1f }, { 1f, 0f, 0f } }),
        };
        using AdvantageResult result = new LengthWeightedBaselineAdvantage().Compute(batch);
        Assert.Equal(new[] { 1 - 0.75, -0.75 }, Tensors.ToArray(result.Advantages));
    }

    [Fact]
    public void Missing_response_mask_is_rejected() =>
        Assert.Contains("ResponseMask", Assert.Throws<ArgumentException>(() => new LengthWeightedBaselineAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0 }), tensor(new long[] { 0 })))).Message);
}
