namespace Luffy.Objectives.Tests.Advantages;

public class GpgAdvantageTests
{
    [Theory]
    [InlineData(1.0)]
    [InlineData(2.5)]
    public void Matches_an_independent_double_computation(double featureNorm) =>
        EstimatorAssertions.MatchesReference(new GpgAdvantage(featureNorm), g => g.Gpg(featureNorm));

    [Fact]
    public void Alpha_rescales_by_the_share_of_non_zero_rewards()
    {
        // 4 sequences, one non-zero reward: α = 4
        using AdvantageResult result = new GpgAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0, 0.0, 0.0, 0.0 }), tensor(new long[] { 0, 0, 1, 1 })));
        Assert.Equal(new[] { 4 * 0.5, 4 * -0.5, 0.0, 0.0 }, Tensors.ToArray(result.Advantages));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(double.NaN)]
    public void Non_positive_feature_norm_is_rejected(double featureNorm) =>
        Assert.Equal("FeatureNorm", Assert.Throws<ArgumentOutOfRangeException>(() => new GpgAdvantage(featureNorm)).ParamName);
}
