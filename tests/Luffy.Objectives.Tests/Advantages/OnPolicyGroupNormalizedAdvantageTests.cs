namespace Luffy.Objectives.Tests.Advantages;

public class OnPolicyGroupNormalizedAdvantageTests
{
    [Fact]
    public void Matches_an_independent_double_computation() =>
        EstimatorAssertions.MatchesReference(new OnPolicyGroupNormalizedAdvantage(), g => g.GrpoOnPolicyStatistics(true, 1e-6));

    [Fact]
    public void Matches_an_independent_double_computation_without_std() =>
        EstimatorAssertions.MatchesReference(new OnPolicyGroupNormalizedAdvantage(normalizeByStd: false), g => g.GrpoOnPolicyStatistics(false, 1e-6));

    [Fact]
    public void A_correct_trace_in_an_unsolved_group_gets_the_full_advantage()
    {
        // LUFFY's typical case: 7 wrong rollouts and 1 correct trace. On-policy mean 0, std 0 -> 1.
        var rewards = tensor(new[] { 0.0, 0, 0, 0, 0, 0, 0, 1 });
        var batch = new RewardBatch(rewards, zeros(8, dtype: ScalarType.Int64)) { IsOffPolicy = tensor(new[] { false, false, false, false, false, false, false, true }) };
        using AdvantageResult result = new OnPolicyGroupNormalizedAdvantage().Compute(batch);
        double[] a = Tensors.ToArray(result.Advantages);
        Assert.Equal(1.0 / (1 + 1e-6), a[7], 14);
        Assert.All(a.Take(7), x => Assert.Equal(0.0, x));
    }

    [Fact]
    public void A_group_with_one_on_policy_sample_uses_mean_zero_and_std_one_for_every_member()
    {
        // the reference's rule: one on-policy member -> mean 0, std 1, also when the trace has the same reward
        var batch = new RewardBatch(tensor(new[] { 1.0, 1.0, 0.0, 1.0, 1.0 }), tensor(new long[] { 0, 0, 1, 1, 1 })) { IsOffPolicy = tensor(new[] { false, true, false, false, true }) };
        using AdvantageResult result = new OnPolicyGroupNormalizedAdvantage().Compute(batch);
        double[] a = Tensors.ToArray(result.Advantages);
        Assert.Equal(1 / (1 + 1e-6), a[0], 15);
        Assert.Equal(1 / (1 + 1e-6), a[1], 15);
        double std = Math.Sqrt(0.5);
        Assert.Equal((1.0 - 0.5) / (std + 1e-6), a[4], 14); // group 1: on-policy {0, 1}
    }

    [Fact]
    public void Equal_on_policy_rewards_give_an_exact_mean()
    {
        // 0.1 + 0.1 + 0.1 is not 0.3: the mean of equal rewards is taken exactly, so the group gets exactly 0
        var batch = new RewardBatch(tensor(new[] { 0.1, 0.1, 0.1, 0.1 }), zeros(4, dtype: ScalarType.Int64)) { IsOffPolicy = tensor(new[] { false, false, false, true }) };
        using AdvantageResult result = new OnPolicyGroupNormalizedAdvantage().Compute(batch);
        Assert.All(Tensors.ToArray(result.Advantages), x => Assert.Equal(0.0, x));
    }

    [Fact]
    public void Missing_off_policy_flags_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new OnPolicyGroupNormalizedAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0 }), tensor(new long[] { 0 }))));
        Assert.Contains("IsOffPolicy", ex.Message);
    }

    [Fact]
    public void Off_policy_flags_of_the_wrong_length_are_rejected()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 })) { IsOffPolicy = tensor(new[] { true }) };
        var ex = Assert.Throws<ArgumentException>(() => new OnPolicyGroupNormalizedAdvantage().Compute(batch));
        Assert.Contains("IsOffPolicy has shape [1] but Rewards has shape [2]", ex.Message);
    }
}
