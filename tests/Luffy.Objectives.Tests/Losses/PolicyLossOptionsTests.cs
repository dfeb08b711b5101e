namespace Luffy.Objectives.Tests.Losses;

public class PolicyLossOptionsTests
{
    public static TheoryData<string, PolicyLossOptions> Invalid() => new()
    {
        { "OffPolicyMaxClamp", new PolicyLossOptions { OffPolicyMaxClamp = double.NaN } },
        { "OffPolicyMinClamp", new PolicyLossOptions { OffPolicyMinClamp = double.NegativeInfinity } },
        { "OffPolicyMinClamp", new PolicyLossOptions { OffPolicyMinClamp = 0.9, OffPolicyMaxClamp = 0.5 } },
        { "AllMaxClip", new PolicyLossOptions { AllMaxClip = 0 } },
        { "AllMaxClip", new PolicyLossOptions { AllMaxClip = double.NaN } },
        { "AllMaxClip", new PolicyLossOptions { AllMaxClip = 1 } }, // p <= 1 always: removes no token
        { "AllMaxClip", new PolicyLossOptions { AllMaxClip = 5 } },
        { "OffPolicyMaxClamp", new PolicyLossOptions { OffPolicyMaxClamp = -1 } }, // f(p) = p/(p + 0.1) >= 0: clamps every token
        { "OffPolicyMaxClamp", new PolicyLossOptions { OffPolicyMaxClamp = 0, Shaping = new IdentityShaping() } },
        { "SftCoefficient", new PolicyLossOptions { SftCoefficient = -1 } },
        { "SftCoefficient", new PolicyLossOptions { SftCoefficient = double.PositiveInfinity } },
        { "AggregationConstant", new PolicyLossOptions { AggregationConstant = 0 } },
        { "EntropyCoefficient", new PolicyLossOptions { EntropyCoefficient = -0.001 } },
        { "KlCoefficient", new PolicyLossOptions { KlCoefficient = double.NaN } },
        { "Aggregation", new PolicyLossOptions { Aggregation = (LossAggregation)9 } },
        { "KlEstimator", new PolicyLossOptions { KlEstimator = (KlEstimator)9 } },
        { "MetricScope", new PolicyLossOptions { MetricScope = (MetricScope)9 } },
        { "Kernel", new PolicyLossOptions { Kernel = (LossKernel)9 } },
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
    public void Null_objective_is_rejected() =>
        Assert.Equal("OnPolicy", Assert.Throws<ArgumentNullException>(() => new MixedPolicyLoss(new PolicyLossOptions { OnPolicy = null! })).ParamName);

    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var o = new PolicyLossOptions();
        var surrogate = Assert.IsType<ClippedSurrogate>(o.OnPolicy);
        Assert.True(surrogate.Clip);
        Assert.Equal(0.2, surrogate.ClipLow);
        Assert.Equal(0.2, surrogate.ClipHigh);
        Assert.Null(surrogate.DualClip);
        Assert.Equal(0.1, Assert.IsType<RegularizedShaping>(o.Shaping).Gamma);
        Assert.Null(o.OffPolicyMaxClamp);
        Assert.Null(o.OffPolicyMinClamp);
        Assert.Null(o.AllMaxClip);
        Assert.Equal(0.0, o.SftCoefficient);
        Assert.True(o.TraceSequencesInPolicyLoss);
        Assert.Equal(LossAggregation.TokenMean, o.Aggregation);
        Assert.Equal(KlEstimator.K3, o.KlEstimator);
        Assert.Equal(MetricScope.OnPolicyTokens, o.MetricScope);
        Assert.Equal(LossKernel.Auto, o.Kernel);
    }

    [Fact]
    public void With_copies_leave_the_original_unchanged()
    {
        PolicyLossOptions changed = PolicyLossOptions.LuffyMainRun with { OnPolicy = new ClippedSurrogate() };
        Assert.True(((ClippedSurrogate)changed.OnPolicy).Clip);
        Assert.False(((ClippedSurrogate)PolicyLossOptions.LuffyMainRun.OnPolicy).Clip);
    }

    [Fact]
    public void The_verl_presets_use_their_objective_and_sequence_mean_token_mean()
    {
        Assert.IsType<GroupSequenceSurrogate>(PolicyLossOptions.Gspo.OnPolicy);
        Assert.IsType<SoftAdaptiveSurrogate>(PolicyLossOptions.Sapo.OnPolicy);
        Assert.IsType<GeometricMeanSurrogate>(PolicyLossOptions.Gmpo.OnPolicy);
        Assert.All(new[] { PolicyLossOptions.Gspo, PolicyLossOptions.Sapo, PolicyLossOptions.Gmpo }, o => Assert.Equal(LossAggregation.SequenceMeanTokenMean, o.Aggregation));
    }

    [Fact]
    public void Rl_with_sft_loss_keeps_trace_sequences_out_of_the_policy_loss()
    {
        PolicyLossOptions o = PolicyLossOptions.RlWithSftLoss(0.4);
        Assert.Equal(0.4, o.SftCoefficient);
        Assert.False(o.TraceSequencesInPolicyLoss);
        Assert.Equal(PolicyLossOptions.LuffyMainRun.Aggregation, o.Aggregation);
    }

    public static TheoryData<string, PolicyLossOptions> SilentCombinations() => new()
    {
        // GSPO under the main run's seq-mean-token-sum-norm (the README's own example before), GMPO under token-mean
        { "Aggregation", PolicyLossOptions.LuffyMainRun with { OnPolicy = new GroupSequenceSurrogate() } },
        { "Aggregation", new PolicyLossOptions { OnPolicy = new GeometricMeanSurrogate() } },
        // settings that did nothing
        { "AggregationConstant", new PolicyLossOptions { AggregationConstant = 8192 } },
        { "TraceSequencesInPolicyLoss", new PolicyLossOptions { TraceSequencesInPolicyLoss = false } },
        { "ClipHigh", new PolicyLossOptions { OnPolicy = ClippedSurrogate.Unclipped with { ClipHigh = 0.28 } } },
    };

    [Theory]
    [MemberData(nameof(SilentCombinations))]
    public void A_combination_that_would_change_nothing_or_that_no_reference_uses_is_rejected(string option, PolicyLossOptions options)
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(options));
        Assert.Equal(option, ex.ParamName);
    }

    [Fact]
    public void A_sequence_level_objective_runs_under_another_aggregation_only_on_request()
    {
        PolicyLossOptions mismatch = PolicyLossOptions.LuffyMainRun with { OnPolicy = new GroupSequenceSurrogate() };
        Assert.Contains("SequenceMeanTokenMean", Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(mismatch)).Message);
        Assert.NotNull(new MixedPolicyLoss(mismatch with { AllowAggregationMismatch = true }));
        Assert.NotNull(new MixedPolicyLoss(mismatch with { Aggregation = LossAggregation.SequenceMeanTokenMean, AggregationConstant = null }));
    }

    [Fact]
    public void Every_preset_is_a_valid_combination()
    {
        foreach (PolicyLossOptions preset in new[] { PolicyLossOptions.Grpo, PolicyLossOptions.DrGrpo, PolicyLossOptions.LuffyMainRun, PolicyLossOptions.Gspo, PolicyLossOptions.Sapo, PolicyLossOptions.Gmpo, PolicyLossOptions.Cispo, PolicyLossOptions.Gpg, PolicyLossOptions.RlWithSftLoss(), new PolicyLossOptions() })
        {
            preset.Validate();
        }
    }

    [Fact]
    public void Sequence_level_objectives_declare_their_aggregation_and_token_level_ones_none()
    {
        Assert.Equal(LossAggregation.SequenceMeanTokenMean, new GroupSequenceSurrogate().RequiredAggregation);
        Assert.Equal(LossAggregation.SequenceMeanTokenMean, new GeometricMeanSurrogate().RequiredAggregation);
        IOnPolicyObjective[] tokenLevel = [new ClippedSurrogate(), new SoftAdaptiveSurrogate(), new ClippedImportanceWeightObjective(), new PolicyGradientObjective()];
        Assert.All(tokenLevel, o => Assert.Null(o.RequiredAggregation));
    }

    [Fact]
    public void Options_built_alike_are_equal()
    {
        // false before: the shaping and the ratio were classes compared by reference
        Assert.Equal(new PolicyLossOptions(), new PolicyLossOptions());
        Assert.True(new PolicyLossOptions() == new PolicyLossOptions());
        Assert.Equal(PolicyLossOptions.LuffyMainRun, new PolicyLossOptions
        {
            OnPolicy = new ClippedSurrogate { Clip = false }, Shaping = new RegularizedShaping(0.1), Aggregation = LossAggregation.SequenceMeanTokenSumNorm,
            EntropyCoefficient = 0.001, MetricScope = MetricScope.AllResponseTokens,
        });
        Assert.NotEqual(new PolicyLossOptions(), new PolicyLossOptions { Shaping = new RegularizedShaping(0.3) });
        Assert.Equal(new PolicyLossOptions().GetHashCode(), new PolicyLossOptions().GetHashCode());
    }
}
