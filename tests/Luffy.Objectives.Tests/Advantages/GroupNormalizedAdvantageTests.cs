namespace Luffy.Objectives.Tests.Advantages;

public class GroupNormalizedAdvantageTests
{
    [Fact]
    public void Matches_an_independent_double_computation_with_std_normalisation() =>
        EstimatorAssertions.MatchesReference(new GroupNormalizedAdvantage(), g => g.Grpo(true, 1e-6));

    [Fact]
    public void Matches_an_independent_double_computation_without_std_normalisation() =>
        EstimatorAssertions.MatchesReference(new GroupNormalizedAdvantage(normalizeByStd: false), g => g.Grpo(false, 1e-6));

    private static Arbitrary<(double[] Rewards, long[] Ids)> Groups =>
        Gen.Choose(1, 5).SelectMany(groups =>
            Gen.ArrayOf(Gen.Choose(0, 4).Select(x => x * 0.5), groups * 4)
               .Select(r => (r, Enumerable.Range(0, groups * 4).Select(i => (long)(i % groups) * 7 + 3).ToArray())))
           .ToArbitrary();

    [Property(MaxTest = 100)]
    public Property Grpo_advantages_have_zero_mean_per_group_and_unit_std_when_not_degenerate() =>
        Prop.ForAll(Groups, input =>
        {
            using AdvantageResult result = new GroupNormalizedAdvantage().Compute(new RewardBatch(tensor(input.Rewards), tensor(input.Ids)));
            double[] a = Tensors.ToArray(result.Advantages);
            foreach (long id in input.Ids.Distinct())
            {
                double[] members = a.Where((_, i) => input.Ids[i] == id).ToArray();
                double[] rewards = input.Rewards.Where((_, i) => input.Ids[i] == id).ToArray();
                Assert.True(Math.Abs(members.Average()) < 1e-12, $"group {id} mean {members.Average()}");
                if (rewards.Distinct().Count() > 1)
                {
                    (_, double std) = RewardGroups.MeanStd(members);
                    Assert.True(Math.Abs(std - 1) < 1e-5, $"group {id} std {std}");
                }
                else
                {
                    Assert.All(members, x => Assert.Equal(0.0, x));
                }
            }
            return true;
        });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_group_of_one_has_mean_zero_and_std_one(bool normalize)
    {
        // the reference's rule (it used to be zeroed as "uniform"): r / (1 + eps) with std, r without
        using AdvantageResult result = new GroupNormalizedAdvantage(normalize).Compute(new RewardBatch(tensor(new[] { 0.75, 1.0, 0.0 }), tensor(new long[] { 5, 6, 6 })));
        Assert.Equal(normalize ? 0.75 / (1 + 1e-6) : 0.75, Tensors.ToArray(result.Advantages)[0], 15);
        Assert.Equal(0, result.Statistics.UniformGroups);
    }

    [Fact]
    public void Uniform_groups_get_exactly_zero_even_when_the_mean_is_inexact()
    {
        // 0.1 + 0.1 + 0.1 = 0.30000000000000004: a naive mean leaves ~1e-17 / 1e-6 behind.
        using AdvantageResult result = new GroupNormalizedAdvantage().Compute(new RewardBatch(tensor(new[] { 0.1, 0.1, 0.1, 1.0, 0.0 }), tensor(new long[] { 1, 1, 1, 2, 2 })));
        double[] a = Tensors.ToArray(result.Advantages);
        Assert.Equal(new[] { 0.0, 0.0, 0.0 }, a.Take(3));
        Assert.Equal(1.0 / (Math.Sqrt(0.5) + 1e-6) * 0.5, a[3], 12);
    }

    [Fact]
    public void Statistics_count_solved_unsolved_and_uniform_groups()
    {
        var rewards = tensor(new[] { 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.5, 0.5 });
        var ids = tensor(new long[] { 0, 0, 1, 1, 2, 2, 3, 3 });
        using AdvantageResult result = new GroupNormalizedAdvantage().Compute(new RewardBatch(rewards, ids));
        GroupStatistics s = result.Statistics;
        Assert.Equal(4, s.GroupCount);
        Assert.Equal(1, s.SolveAll);
        Assert.Equal(1, s.SolveNone);
        Assert.Equal(3, s.UniformGroups);
        Assert.Equal(0.5, s.RewardMean, 14);
        Assert.Equal(Math.Sqrt(1.5 / 7.0), s.RewardStd, 14); // six deviations of 0.5, two of 0
    }

    [Fact]
    public void Nan_reward_is_rejected_with_its_index()
    {
        var ex = Assert.Throws<ArgumentException>(() => new GroupNormalizedAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0, double.NaN }), tensor(new long[] { 0, 0 }))));
        Assert.Contains("rewards[1] is NaN", ex.Message);
    }

    [Theory]
    [InlineData(-1e-3)]
    [InlineData(double.NaN)]
    public void Negative_epsilon_is_rejected(double epsilon) =>
        Assert.Equal("Epsilon", Assert.Throws<ArgumentOutOfRangeException>(() => new GroupNormalizedAdvantage(epsilon: epsilon)).ParamName);

    [Fact]
    public void Result_can_be_broadcast_to_tokens()
    {
        using AdvantageResult result = new GroupNormalizedAdvantage(normalizeByStd: false).Compute(new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 4, 4 })));
        Tensor tokens = result.ToTokens(tensor(new[,] { { true, true, false }, { true, false, false } }));
        Assert.Equal(new[] { 0.5, 0.5, 0.0, -0.5, 0.0, 0.0 }, Tensors.ToArray(tokens));
    }

    [Fact]
    public void Estimators_are_records_validated_however_they_are_built()
    {
        Assert.Equal(new GroupNormalizedAdvantage(normalizeByStd: false), new GroupNormalizedAdvantage() with { NormalizeByStd = false });
        Assert.Equal("Epsilon", Assert.Throws<ArgumentOutOfRangeException>(() => new GroupNormalizedAdvantage() with { Epsilon = -1 }).ParamName);
        Assert.NotEqual(new GroupNormalizedAdvantage(), new GroupNormalizedAdvantage(epsilon: 1e-3));
        Assert.Equal<IAdvantageEstimator>(new LeaveOneOutAdvantage(), new LeaveOneOutAdvantage());
    }
}
