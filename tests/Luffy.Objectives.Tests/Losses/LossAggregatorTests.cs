namespace Luffy.Objectives.Tests.Losses;

public class LossAggregatorTests
{
    private static readonly double[,] Values = { { 1, 2, 3 }, { 4, 100, 100 }, { 100, 100, 100 } };
    private static readonly bool[,] MaskValues = { { true, true, true }, { true, false, false }, { false, false, false } };

    [Theory]
    [InlineData(LossAggregation.TokenMean, (1 + 2 + 3 + 4) / 4.0)]
    [InlineData(LossAggregation.SequenceMeanTokenSum, (6 + 4) / 2.0)]
    [InlineData(LossAggregation.SequenceMeanTokenMean, (2 + 4) / 2.0)]
    [InlineData(LossAggregation.SequenceMeanTokenSumNorm, (1 + 2 + 3 + 4) / 3.0)]
    public void Each_mode_matches_its_formula_and_ignores_padding_and_empty_rows(LossAggregation mode, double expected)
    {
        Tensor result = LossAggregator.Aggregate(Tensors.From(Values, ScalarType.Float64), Tensors.Mask(MaskValues), mode);
        Assert.Equal(expected, Tensors.Scalar(result), 14);
    }

    [Theory]
    [InlineData(LossAggregation.TokenMean, 10 / 8.0)]
    [InlineData(LossAggregation.SequenceMeanTokenSum, 10 / 8.0)]
    [InlineData(LossAggregation.SequenceMeanTokenMean, 6 / 8.0)]
    [InlineData(LossAggregation.SequenceMeanTokenSumNorm, 10 / 8.0)]
    public void A_global_normalizer_replaces_the_denominator(LossAggregation mode, double expected) =>
        Assert.Equal(expected, Tensors.Scalar(LossAggregator.Aggregate(Tensors.From(Values, ScalarType.Float64), Tensors.Mask(MaskValues), mode, globalNormalizer: 8)), 14);

    [Fact]
    public void Sum_norm_uses_the_constant_when_given() =>
        Assert.Equal(10 / 8192.0, Tensors.Scalar(LossAggregator.Aggregate(Tensors.From(Values, ScalarType.Float64), Tensors.Mask(MaskValues), LossAggregation.SequenceMeanTokenSumNorm, constant: 8192)), 15);

    [Fact]
    public void Masked_nan_values_are_ignored()
    {
        double[,] withNan = { { 1, double.NaN } };
        Tensor values = Tensors.From(withNan, ScalarType.Float64, requiresGrad: true);
        Tensor result = LossAggregator.Aggregate(values, Tensors.Mask(new[,] { { true, false } }), LossAggregation.TokenMean);
        result.backward();
        Assert.Equal(1.0, Tensors.Scalar(result));
        Assert.Equal(new[] { 1.0, 0.0 }, Tensors.ToArray(values.grad!));
    }

    [Property(MaxTest = 60)]
    public Property Aggregation_is_split_invariant_with_the_global_normalizer() =>
        Prop.ForAll(Gen.Choose(0, 100_000).ToArbitrary(), Gen.Choose(1, 5).ToArbitrary(), Gen.Elements(Enum.GetValues<LossAggregation>()).ToArbitrary(), (seed, split, mode) =>
        {
            MixedBatch batch = MixedBatch.Random(seed, b: 6, t: 9);
            double normalizer = mode == LossAggregation.TokenMean ? Math.Max(batch.TokenCount(), 1) : mode == LossAggregation.SequenceMeanTokenSumNorm ? 9 : Math.Max(batch.NonEmptySequenceCount(), 1);
            double full = Tensors.Scalar(LossAggregator.Aggregate(Tensors.From(batch.LogProbs, ScalarType.Float64), Tensors.Mask(batch.Mask), mode));
            double parts = 0;
            foreach ((int start, int count) in new[] { (0, split), (split, 6 - split) })
            {
                MixedBatch part = batch.Rows(start, count);
                parts += Tensors.Scalar(LossAggregator.Aggregate(Tensors.From(part.LogProbs, ScalarType.Float64), Tensors.Mask(part.Mask), mode, normalizer));
            }
            return Math.Abs(full - parts) <= 1e-12 * Math.Max(1, Math.Abs(full));
        });

    [Fact]
    public void Mask_of_another_shape_is_rejected() =>
        Assert.Contains("responseMask has shape [2, 4] but values has shape [2, 3]", Assert.Throws<ArgumentException>(() => LossAggregator.Aggregate(zeros(2, 3), ones(2, 4, dtype: ScalarType.Bool), LossAggregation.TokenMean)).Message);

    [Fact]
    public void Non_positive_constant_is_rejected() =>
        Assert.Equal("constant", Assert.Throws<ArgumentOutOfRangeException>(() => LossAggregator.Aggregate(zeros(2, 3), ones(2, 3, dtype: ScalarType.Bool), LossAggregation.SequenceMeanTokenSumNorm, constant: 0)).ParamName);

    [Fact]
    public void Unknown_mode_is_rejected() =>
        Assert.Equal("mode", Assert.Throws<ArgumentOutOfRangeException>(() => LossAggregator.Aggregate(zeros(2, 3), ones(2, 3, dtype: ScalarType.Bool), (LossAggregation)42)).ParamName);
}
