namespace Luffy.Objectives.Tests.Losses;

public class PolicyLossOptionsTests
{
    public static TheoryData<string, PolicyLossOptions> Invalid() => new()
    {
        { "ClipLow", new PolicyLossOptions { ClipLow = -0.1 } },
        { "ClipLow", new PolicyLossOptions { ClipLow = 1.0 } },
        { "ClipHigh", new PolicyLossOptions { ClipHigh = double.NaN } },
        { "DualClip", new PolicyLossOptions { DualClip = 1.0 } },
        { "DualClip", new PolicyLossOptions { DualClip = double.PositiveInfinity } },
        { "OffPolicyMaxClamp", new PolicyLossOptions { OffPolicyMaxClamp = double.NaN } },
        { "OffPolicyMinClamp", new PolicyLossOptions { OffPolicyMinClamp = 0.9, OffPolicyMaxClamp = 0.5 } },
        { "AggregationConstant", new PolicyLossOptions { AggregationConstant = 0 } },
        { "EntropyCoefficient", new PolicyLossOptions { EntropyCoefficient = -0.001 } },
        { "KlCoefficient", new PolicyLossOptions { KlCoefficient = double.NaN } },
        { "Aggregation", new PolicyLossOptions { Aggregation = (LossAggregation)9 } },
        { "KlEstimator", new PolicyLossOptions { KlEstimator = (KlEstimator)9 } },
        { "MetricScope", new PolicyLossOptions { MetricScope = (MetricScope)9 } },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Out_of_range_options_are_rejected_naming_the_option(string option, PolicyLossOptions options)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new MixedPolicyLoss(options));
        Assert.Equal(option, ex.ParamName);
    }

    [Fact]
    public void Null_shaping_is_rejected() =>
        Assert.Equal("Shaping", Assert.Throws<ArgumentNullException>(() => new MixedPolicyLoss(new PolicyLossOptions { Shaping = null! })).ParamName);

    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var o = new PolicyLossOptions();
        Assert.True(o.ClipOnPolicyRatio);
        Assert.Equal(0.2, o.ClipLow);
        Assert.Equal(0.2, o.ClipHigh);
        Assert.Null(o.DualClip);
        Assert.Equal(0.1, Assert.IsType<RegularizedShaping>(o.Shaping).Gamma);
        Assert.Equal(LossAggregation.TokenMean, o.Aggregation);
        Assert.Equal(KlEstimator.K3, o.KlEstimator);
        Assert.Equal(MetricScope.OnPolicyTokens, o.MetricScope);
    }

    [Fact]
    public void With_copies_leave_the_original_unchanged()
    {
        PolicyLossOptions changed = PolicyLossOptions.LuffyMainRun with { ClipOnPolicyRatio = true };
        Assert.True(changed.ClipOnPolicyRatio);
        Assert.False(PolicyLossOptions.LuffyMainRun.ClipOnPolicyRatio);
    }
}
