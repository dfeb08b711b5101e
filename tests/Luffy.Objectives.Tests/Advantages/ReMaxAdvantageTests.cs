namespace Luffy.Objectives.Tests.Advantages;

public class ReMaxAdvantageTests
{
    [Fact]
    public void Advantage_is_the_reward_minus_the_greedy_baseline()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0, 1.0 }), tensor(new long[] { 0, 0, 1 })) { BaselineRewards = tensor(new[] { 0.0, 0.0, 1.0 }) };
        using AdvantageResult result = new ReMaxAdvantage().Compute(batch);
        Assert.Equal(new[] { 1.0, 0.0, 0.0 }, Tensors.ToArray(result.Advantages));
        Assert.False(result.IsTokenLevel);
    }

    [Fact]
    public void Missing_baseline_rewards_are_rejected() =>
        Assert.Contains("BaselineRewards", Assert.Throws<ArgumentException>(() => new ReMaxAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0 }), tensor(new long[] { 0 })))).Message);

    [Fact]
    public void Baselines_of_another_length_are_rejected()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 })) { BaselineRewards = tensor(new[] { 1.0 }) };
        Assert.Contains("BaselineRewards has shape [1] but Rewards has shape [2]", Assert.Throws<ArgumentException>(() => new ReMaxAdvantage().Compute(batch)).Message);
    }

    [Fact]
    public void A_NaN_baseline_is_rejected_with_its_index()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 })) { BaselineRewards = tensor(new[] { 1.0, double.NaN }) };
        Assert.Contains("baselineRewards[1] is NaN", Assert.Throws<ArgumentException>(() => new ReMaxAdvantage().Compute(batch)).Message);
    }
}
