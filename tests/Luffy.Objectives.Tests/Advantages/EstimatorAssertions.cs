namespace Luffy.Objectives.Tests.Advantages;

internal static class EstimatorAssertions
{
    /// <summary>Runs the estimator in float32 and float64 over several seeds and compares with the reference.</summary>
    public static void MatchesReference(IAdvantageEstimator estimator, Func<RewardGroups, double[]> reference, int minGroupSize = 1)
    {
        foreach (ScalarType dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            for (int seed = 0; seed < 25; seed++)
            {
                RewardGroups groups = RewardGroups.Random(seed, minGroupSize);
                if (dtype == ScalarType.Float32)
                {
                    // compare against the reference evaluated on the float32-rounded rewards
                    groups = new RewardGroups { Rewards = groups.Rewards.Select(r => (double)(float)r).ToArray(), GroupIds = groups.GroupIds, Lengths = groups.Lengths, OffPolicy = groups.OffPolicy };
                }
                using AdvantageResult result = estimator.Compute(groups.ToBatch(dtype));
                Assert.Equal(dtype, result.Advantages.dtype);
                Assert.Equal(new long[] { groups.B }, result.Advantages.shape);
                AssertClose.Array(reference(groups), Tensors.ToArray(result.Advantages), Tensors.Tolerance(dtype) * (dtype == ScalarType.Float32 ? 10 : 1), $"{estimator.Name} seed {seed} {dtype}");
            }
        }
    }
}
