using Luffy.Objectives.Recipes;

namespace Luffy.Objectives.Tests.Recipes;

public class VerlRegistryTests
{
    [Theory]
    [InlineData("vanilla", typeof(ClippedSurrogate), LossAggregation.TokenMean)]
    [InlineData("gspo", typeof(GroupSequenceSurrogate), LossAggregation.SequenceMeanTokenMean)]
    [InlineData("sapo", typeof(SoftAdaptiveSurrogate), LossAggregation.SequenceMeanTokenMean)]
    [InlineData("gpg", typeof(PolicyGradientObjective), LossAggregation.TokenMean)]
    [InlineData("geo_mean", typeof(GeometricMeanSurrogate), LossAggregation.SequenceMeanTokenMean)]
    [InlineData("cispo", typeof(ClippedImportanceWeightObjective), LossAggregation.TokenMean)]
    public void Policy_loss_keys_give_verls_objective_and_aggregation(string key, Type objective, LossAggregation aggregation)
    {
        PolicyLossOptions options = VerlRegistry.PolicyLoss(key);
        Assert.IsType(objective, options.OnPolicy);
        Assert.Equal(aggregation, options.Aggregation);
        Assert.Equal(MetricScope.AllResponseTokens, options.MetricScope);
        options.Validate();
    }

    [Theory]
    [InlineData("grpo", typeof(GroupNormalizedAdvantage))]
    [InlineData("grpo_vectorized", typeof(GroupNormalizedAdvantage))]
    [InlineData("grpo_passk", typeof(PassAtKAdvantage))]
    [InlineData("rloo", typeof(LeaveOneOutAdvantage))]
    [InlineData("rloo_vectorized", typeof(LeaveOneOutAdvantage))]
    [InlineData("reinforce_plus_plus", typeof(ReinforcePlusPlusAdvantage))]
    [InlineData("reinforce_plus_plus_baseline", typeof(ReinforcePlusPlusBaselineAdvantage))]
    [InlineData("remax", typeof(ReMaxAdvantage))]
    [InlineData("opo", typeof(LengthWeightedBaselineAdvantage))]
    [InlineData("gpg", typeof(GpgAdvantage))]
    public void Advantage_estimator_keys_give_the_estimator(string key, Type estimator) =>
        Assert.IsType(estimator, VerlRegistry.AdvantageEstimator(key));

    [Theory]
    [InlineData("clip_cov")]
    [InlineData("kl_cov")]
    [InlineData("Vanilla")]
    public void Policy_losses_not_implemented_here_are_named_with_the_supported_keys(string key)
    {
        var ex = Assert.Throws<NotSupportedException>(() => VerlRegistry.PolicyLoss(key));
        Assert.Contains($"'{key}'", ex.Message);
        Assert.Contains("vanilla, gspo, sapo, gpg, geo_mean, cispo", ex.Message);
    }

    [Theory]
    [InlineData("gae")]
    [InlineData("optimal_token_baseline")]
    public void Estimators_not_implemented_here_are_named(string key) =>
        Assert.Contains($"'{key}'", Assert.Throws<NotSupportedException>(() => VerlRegistry.AdvantageEstimator(key)).Message);

    [Fact]
    public void The_key_lists_match_the_lookups()
    {
        Assert.All(VerlRegistry.PolicyLossKeys, k => Assert.NotNull(VerlRegistry.PolicyLoss(k)));
        Assert.All(VerlRegistry.AdvantageEstimatorKeys, k => Assert.NotNull(VerlRegistry.AdvantageEstimator(k)));
    }
}
