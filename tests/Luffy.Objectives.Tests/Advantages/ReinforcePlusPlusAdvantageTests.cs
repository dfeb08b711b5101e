namespace Luffy.Objectives.Tests.Advantages;

public class ReinforcePlusPlusAdvantageTests
{
    [Theory]
    [InlineData(1.0)]
    [InlineData(0.9)]
    [InlineData(0.0)]
    public void Token_advantages_match_an_independent_double_computation(double gamma)
    {
        foreach (ScalarType dtype in new[] { ScalarType.Float64, ScalarType.Float32 })
        {
            for (int seed = 0; seed < 15; seed++)
            {
                RewardGroups groups = RewardGroups.Random(seed);
                using AdvantageResult result = new ReinforcePlusPlusAdvantage(gamma).Compute(groups.ToBatch(dtype));
                Assert.True(result.IsTokenLevel);
                double[,] expected = groups.ReinforcePlusPlusTokens(gamma);
                AssertClose.Matrix(expected, Tensors.ToMatrix(result.ToTokens(groups.Mask())), Tensors.Tolerance(dtype) * 10, $"seed {seed} {dtype}");
                // the per-sequence value is the mean over the response
                double[] perSequence = Tensors.ToArray(result.Advantages);
                for (int i = 0; i < groups.B; i++)
                {
                    double mean = groups.Lengths[i] == 0 ? 0 : Enumerable.Range(0, groups.Lengths[i]).Average(j => expected[i, j]);
                    AssertClose.Scalar(mean, perSequence[i], Tensors.Tolerance(dtype) * 10, 1.0, $"sequence {i}");
                }
            }
        }
    }

    [Fact]
    public void A_gap_in_the_mask_restarts_the_return()
    {
        // mask 1 1 0 1: the reward sits on the last token; the return does not reach the tokens before the gap
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 1 })) { ResponseMask = tensor(new[,] { { true, true, false, true }, { true, true, true, true } }) };
        using AdvantageResult result = new ReinforcePlusPlusAdvantage(0.5).Compute(batch);
        double[] tokens = Tensors.ToArray(result.ToTokens(batch.ResponseMask!));
        var returns = new[] { 0.0, 0.0, 1.0, 0, 0, 0, 0 }; // row 0: 0, 0, (gap), 1; row 1: all 0
        double mu = returns.Average(), sd = Math.Sqrt(returns.Sum(r => (r - mu) * (r - mu)) / 6 + 1e-8);
        Assert.Equal((1 - mu) / sd, tokens[3], 12);
        Assert.Equal((0 - mu) / sd, tokens[0], 12);
        Assert.Equal(0.0, tokens[2]);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Gamma_outside_zero_one_is_rejected(double gamma) =>
        Assert.Equal("Gamma", Assert.Throws<ArgumentOutOfRangeException>(() => new ReinforcePlusPlusAdvantage(gamma)).ParamName);

    [Fact]
    public void Missing_response_mask_is_rejected() =>
        Assert.Contains("ResponseMask", Assert.Throws<ArgumentException>(() => new ReinforcePlusPlusAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0 }), tensor(new long[] { 0 })))).Message);

    [Fact]
    public void Token_advantages_need_a_mask_of_their_shape()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 })) { ResponseMask = ones(2, 3, dtype: ScalarType.Bool) };
        using AdvantageResult result = new ReinforcePlusPlusAdvantage().Compute(batch);
        Assert.Contains("[2, 4]", Assert.Throws<ArgumentException>(() => result.ToTokens(ones(2, 4, dtype: ScalarType.Bool))).Message);
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float32)]
    public void Equal_rewards_whiten_to_zero_in_every_dtype(ScalarType dtype)
    {
        // all returns equal, variance 0: the 1e-8 epsilon rounded to 0 in float16, and 0·rsqrt(0) was NaN everywhere
        var batch = new RewardBatch(full(4, 1.0, dtype: dtype), tensor(new long[] { 0, 0, 1, 1 })) { ResponseMask = ones(4, 3, dtype: ScalarType.Bool) };
        using AdvantageResult result = new ReinforcePlusPlusAdvantage().Compute(batch);
        Assert.Equal(dtype, result.Advantages.dtype);
        Assert.All(Tensors.ToArray(result.ToTokens(batch.ResponseMask!)), a => Assert.Equal(0.0, a));
    }

    [Fact]
    public void A_mask_without_response_columns_is_named()
    {
        // amax(): "Expected reduction dim 1 to have non-zero size" before
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 })) { ResponseMask = zeros(2, 0, dtype: ScalarType.Bool) };
        var ex = Assert.Throws<ArgumentException>(() => new ReinforcePlusPlusAdvantage().Compute(batch));
        Assert.Contains("ResponseMask has shape [2, 0]", ex.Message);
    }
}
