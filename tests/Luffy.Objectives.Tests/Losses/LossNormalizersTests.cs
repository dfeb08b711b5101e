namespace Luffy.Objectives.Tests.Losses;

public class LossNormalizersTests
{
    private static readonly bool[,] Mask = { { true, true, true, false }, { true, false, false, false }, { false, false, false, false }, { true, true, false, false } };
    private static readonly bool[,] Off = { { false, false, false, false }, { true, false, false, false }, { false, false, false, false }, { false, false, false, true } };

    [Theory]
    [InlineData(LossAggregation.TokenMean, true, 6, 6, 1)]
    [InlineData(LossAggregation.SequenceMeanTokenSum, true, 3, 3, 1)]
    [InlineData(LossAggregation.SequenceMeanTokenMean, true, 3, 3, 1)]
    [InlineData(LossAggregation.SequenceMeanTokenSumNorm, true, 4, 4, 1)]
    [InlineData(LossAggregation.TokenMean, false, 5, 6, 1)]
    [InlineData(LossAggregation.SequenceMeanTokenMean, false, 2, 3, 1)]
    public void Counts_come_from_the_masks_and_the_options(LossAggregation mode, bool traceSequences, double policy, double regularizer, double sft)
    {
        // row 1 carries a trace (its only token); the off flag of row 3 lies on padding and does not count
        var options = new PolicyLossOptions { Aggregation = mode, TraceSequencesInPolicyLoss = traceSequences };
        LossNormalizers n = LossNormalizers.FromMasks(options, Tensors.Mask(Mask), Tensors.Mask(Off));
        Assert.Equal(policy, n.Policy);
        Assert.Equal(regularizer, n.Regularizer);
        Assert.Equal(sft, n.Sft);
    }

    [Fact]
    public void Token_sum_norm_uses_the_constant_when_set() =>
        Assert.Equal(8192, LossNormalizers.FromMasks(PolicyLossOptions.LuffyMainRun with { AggregationConstant = 8192 }, Tensors.Mask(Mask)).Policy);

    [Theory]
    [InlineData(0.0, null, null, "policy")]
    [InlineData(1.0, -1.0, null, "regularizer")]
    [InlineData(1.0, null, double.NaN, "sft")]
    public void Non_positive_values_are_rejected(double policy, double? regularizer, double? sft, string name) =>
        Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(() => new LossNormalizers(policy, regularizer, sft)).ParamName);

    [Fact]
    public void The_regularizer_defaults_to_the_policy_normalizer() => Assert.Equal(7, new LossNormalizers(7).Regularizer);

    [Fact]
    public void A_float_mask_is_rejected() =>
        Assert.Contains("responseMask has dtype Float32", Assert.Throws<ArgumentException>(() => LossNormalizers.FromMasks(new PolicyLossOptions(), ones(2, 3))).Message);
}
