namespace Luffy.Objectives.Tests.Losses;

/// <summary>Hand-computed cases, the presets, the reference's fixes, and one documented behaviour for bad values in both kernels.</summary>
public partial class MixedPolicyLossTests
{
    [Fact]
    public void Without_an_off_policy_mask_the_loss_is_plain_PPO()
    {
        MixedBatch batch = MixedBatch.Random(11);
        var allOn = new MixedBatch
        {
            LogProbs = batch.LogProbs, OldLogProbs = batch.OldLogProbs, Advantages = batch.Advantages, Mask = batch.Mask,
            OffPolicy = new bool[batch.B, batch.T], ReferenceLogProbs = batch.ReferenceLogProbs, Entropy = batch.Entropy,
            TraceProbabilities = batch.TraceProbabilities, RolloutWeights = batch.RolloutWeights, TraceLogProbs = batch.TraceLogProbs,
        };
        var options = new PolicyLossOptions { OnPolicy = new ClippedSurrogate { DualClip = 3 } };
        ReferenceLoss.Result expected = ReferenceLoss.Compute(allOn, options, Extras.None);
        (PolicyLossInputs inputs, Tensor logp, _) = batch.ToInputs(ScalarType.Float64, Extras.None);
        using PolicyLossResult result = new MixedPolicyLoss(options).Compute(inputs with { OffPolicyMask = null });
        result.Loss.backward();
        AssertClose.Scalar(expected.Loss, Tensors.Scalar(result.Loss), 1e-10, 1.0);
        AssertClose.Matrix(expected.GradLogProbs, Tensors.ToMatrix(logp.grad!), 1e-10);
        Assert.Equal(0, result.Metrics.OffPolicyTokens);
        Assert.Equal(0.0, result.Metrics.OffPolicyLoss);
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void ExGrpo_replayed_token_matches_the_worked_example_of_the_notes(LossKernel kernel)
    {
        // exgrpo-notes §2: A = +0.5, π_θ = 0.5, π_past = 0.25: w = 2, f = 2/2.1 = 0.952381, ℓ = −0.476190,
        // ∂ℓ/∂log p = −A·γ·w/(w + γ)² = −0.5·0.2/4.41 = −0.0226757. One token, C = 1 so the loss is ℓ itself.
        Tensor logp = full(1, 1, Math.Log(0.5), dtype: ScalarType.Float64).requires_grad_();
        var inputs = new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = zeros(1, 1, dtype: ScalarType.Float64), Advantages = full(1, 1, 0.5, dtype: ScalarType.Float64),
            ResponseMask = ones(1, 1, dtype: ScalarType.Bool), OffPolicyMask = ones(1, 1, dtype: ScalarType.Bool),
            TraceLogProbs = full(1, 1, Math.Log(0.25), dtype: ScalarType.Float64),
        };
        var options = PolicyLossOptions.ExGrpo with { EntropyCoefficient = 0, AggregationConstant = 1, Kernel = kernel };
        using PolicyLossResult result = new MixedPolicyLoss(options).Compute(inputs);
        result.Loss.backward();
        Assert.Equal(kernel, result.Kernel);
        Assert.Equal(-0.5 * 2 / 2.1, Tensors.Scalar(result.Loss), 12);
        Assert.Equal(-0.5 * 0.1 * 2 / (2.1 * 2.1), Tensors.ToArray(logp.grad!)[0], 12);
        Assert.Equal(2 / 2.1, result.Metrics.OffPolicyRatioMean, 12);
        Assert.Equal(0.5, result.Metrics.OffPolicyProbability, 12);
    }

    [Fact]
    public void ExGrpo_presets_differ_only_in_the_warm_up_clip()
    {
        Assert.Equal(PolicyLossOptions.LuffyMainRun, PolicyLossOptions.ExGrpo);
        Assert.Equal(PolicyLossOptions.ExGrpo with { OnPolicy = new ClippedSurrogate() }, PolicyLossOptions.ExGrpoWarmUp);
        Assert.Equal(new ClippedSurrogate { ClipLow = 0.2, ClipHigh = 0.2 }, PolicyLossOptions.ExGrpoWarmUp.OnPolicy);
    }

    [Fact]
    public void Luffy_main_run_is_unclipped_ratio_plus_regularized_shaping_summed_over_T()
    {
        // A 2 x 3 batch by hand: row 0 on-policy (2 tokens), row 1 an off-policy prefix of 2 tokens + 1 on-policy token.
        double[,] lp = { { -0.5, -1.0, -9.0 }, { -2.0, -0.1, -0.7 } };
        double[,] old = { { -0.6, -0.8, 0.0 }, { 0.0, 0.0, -0.9 } };
        double[,] adv = { { 1.5, 1.5, 0.0 }, { -0.5, -0.5, -0.5 } };
        bool[,] mask = { { true, true, false }, { true, true, true } };
        bool[,] off = { { false, false, false }, { true, true, false } };
        double Reg(double l) => Math.Exp(l) / (Math.Exp(l) + 0.1);
        double expected = (
            -1.5 * Math.Exp(-0.5 + 0.6) - 1.5 * Math.Exp(-1.0 + 0.8)
            + 0.5 * Reg(-2.0) + 0.5 * Reg(-0.1) + 0.5 * Math.Exp(-0.7 + 0.9)) / 3.0;

        foreach (LossKernel kernel in new[] { LossKernel.Fused, LossKernel.Composed })
        {
            Tensor logp = Tensors.From(lp, ScalarType.Float64, requiresGrad: true);
            using PolicyLossResult result = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun with { EntropyCoefficient = 0, Kernel = kernel }).Compute(new PolicyLossInputs
            {
                LogProbs = logp,
                OldLogProbs = Tensors.From(old, ScalarType.Float64),
                Advantages = Tensors.From(adv, ScalarType.Float64),
                ResponseMask = Tensors.Mask(mask),
                OffPolicyMask = Tensors.Mask(off),
            });
            Assert.Equal(expected, Tensors.Scalar(result.Loss), 14);
            result.Loss.backward();
            double p = Math.Exp(-2.0);
            Assert.Equal(0.5 * 0.1 * p / ((p + 0.1) * (p + 0.1)) / 3.0, Tensors.ToMatrix(logp.grad!)[1, 0], 14);
            Assert.Equal(-1.5 * Math.Exp(-0.5 + 0.6) / 3.0, Tensors.ToMatrix(logp.grad!)[0, 0], 14);
        }
    }

    [Fact]
    public void Luffy_main_run_preset_has_the_papers_settings()
    {
        PolicyLossOptions o = PolicyLossOptions.LuffyMainRun;
        var surrogate = Assert.IsType<ClippedSurrogate>(o.OnPolicy);
        Assert.False(surrogate.Clip);
        Assert.Null(surrogate.DualClip);
        Assert.IsType<ExponentialRatio>(surrogate.Ratio);
        Assert.Equal(0.1, Assert.IsType<RegularizedShaping>(o.Shaping).Gamma);
        Assert.Equal(LossAggregation.SequenceMeanTokenSumNorm, o.Aggregation);
        Assert.Null(o.AggregationConstant);
        Assert.Equal(0.001, o.EntropyCoefficient);
        Assert.Equal(0.0, o.KlCoefficient);
        Assert.Equal(0.0, o.SftCoefficient);
        Assert.True(o.TraceSequencesInPolicyLoss);
        Assert.Equal(MetricScope.AllResponseTokens, o.MetricScope);
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void The_dual_clip_bound_is_c_itself_as_in_verl(LossKernel kernel)
    {
        // c = 1.1 below 1 + ε_high = 1.2: the bound is 1.1 (it used to be max(c, 1 + ε_high) = 1.2); A < 0, ratio e^0.15
        Tensor logp = tensor(new[,] { { -1.0 } }, dtype: ScalarType.Float64).requires_grad_(true);
        using PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { OnPolicy = new ClippedSurrogate { DualClip = 1.1 }, Kernel = kernel }).Compute(new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = tensor(new[,] { { -1.15 } }, dtype: ScalarType.Float64), Advantages = tensor(new[,] { { -2.0 } }, dtype: ScalarType.Float64),
            ResponseMask = tensor(new[,] { { true } }),
        });
        Assert.Equal(2.0 * 1.1, Tensors.Scalar(result.Loss), 14);
        Assert.Equal(1.0, result.Metrics.ClipFractionLower);
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void Clamp_metrics_follow_the_reference_off_ratio_mean_after_the_clamps_and_the_bound_itself_counts_as_clamped(LossKernel kernel)
    {
        // LogShaping(1) makes f = log p exactly, so the bound is hit exactly by the first token
        double[,] lp = { { -1.0, -3.0, -0.5, -0.1 } };
        Tensor logp = Tensors.From(lp, ScalarType.Float64, requiresGrad: true);
        using PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Shaping = new LogShaping(1), OffPolicyMaxClamp = -1.0, OffPolicyMinClamp = -2.0, Kernel = kernel }).Compute(new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = zeros(1, 4, dtype: ScalarType.Float64), Advantages = ones(1, 4, dtype: ScalarType.Float64),
            ResponseMask = ones(1, 4, dtype: ScalarType.Bool), OffPolicyMask = ones(1, 4, dtype: ScalarType.Bool),
        });
        // clamped values: -1 (= max), -2 (min), -1 (max), -1 (max)
        Assert.Equal(3 / 4.0, result.Metrics.OffPolicyMaxClampFraction);
        Assert.Equal(1 / 4.0, result.Metrics.OffPolicyMinClampFraction);
        Assert.Equal((-1 - 2 - 1 - 1) / 4.0, result.Metrics.OffPolicyRatioMean, 14);
        result.Loss.backward();
        // torch's clamp passes the gradient at the bound itself: only the first token keeps one (−A·1 / 4 tokens)
        Assert.Equal(new[] { -0.25, 0, 0, 0 }, Tensors.ToArray(logp.grad!));
    }

    [Theory]
    [InlineData(LossKernel.Fused, "luffy")]
    [InlineData(LossKernel.Composed, "luffy")]
    [InlineData(LossKernel.Fused, "exgrpo")]
    [InlineData(LossKernel.Composed, "exgrpo")]
    [InlineData(LossKernel.Composed, "gspo")]
    [InlineData(LossKernel.Composed, "sapo")]
    [InlineData(LossKernel.Composed, "cispo")]
    [InlineData(LossKernel.Composed, "gpg")]
    [InlineData(LossKernel.Composed, "gmpo")]
    public void Padding_may_hold_NaN_and_gets_exactly_zero_gradient(LossKernel kernel, string objective)
    {
        MixedBatch batch = MixedBatch.Random(12);
        double[,] Poisoned(double[,] source)
        {
            var copy = (double[,])source.Clone();
            for (int i = 0; i < batch.B; i++)
            {
                for (int j = 0; j < batch.T; j++)
                {
                    copy[i, j] = batch.Mask[i, j] ? copy[i, j] : double.NaN;
                }
            }
            return copy;
        }
        var poisoned = new MixedBatch
        {
            LogProbs = Poisoned(batch.LogProbs), OldLogProbs = Poisoned(batch.OldLogProbs), Advantages = Poisoned(batch.Advantages), Mask = batch.Mask,
            OffPolicy = batch.OffPolicy, ReferenceLogProbs = Poisoned(batch.ReferenceLogProbs), Entropy = Poisoned(batch.Entropy),
            TraceProbabilities = Poisoned(batch.TraceProbabilities), RolloutWeights = Poisoned(batch.RolloutWeights), TraceLogProbs = Poisoned(batch.TraceLogProbs),
        };
        // every built-in objective (the composed aggregation skips its masking pass for most of them), LUFFY's trace
        // probabilities and ExGRPO's stored log-probs
        Extras all = Extras.Reference | Extras.Entropy | Extras.RolloutWeights | (objective == "exgrpo" ? Extras.TraceLogProbs : Extras.TraceProbabilities);
        PolicyLossOptions options = objective switch
        {
            "luffy" => PolicyLossOptions.LuffyMainRun with { SftCoefficient = 0.3 },
            "exgrpo" => PolicyLossOptions.ExGrpo,
            "gspo" => PolicyLossOptions.Gspo,
            "sapo" => PolicyLossOptions.Sapo,
            "cispo" => PolicyLossOptions.Cispo,
            "gpg" => PolicyLossOptions.Gpg,
            _ => PolicyLossOptions.Gmpo,
        } with { Kernel = kernel, KlCoefficient = 0.1, EntropyCoefficient = 0.01 };
        (PolicyLossInputs clean, Tensor cleanLogp, Tensor cleanEntropy) = batch.ToInputs(ScalarType.Float32, all);
        (PolicyLossInputs dirty, Tensor dirtyLogp, Tensor dirtyEntropy) = poisoned.ToInputs(ScalarType.Float32, all);
        using PolicyLossResult expected = new MixedPolicyLoss(options).Compute(clean);
        using PolicyLossResult actual = new MixedPolicyLoss(options).Compute(dirty);
        expected.Loss.backward();
        actual.Loss.backward();
        Assert.Equal(Tensors.Scalar(expected.Loss), Tensors.Scalar(actual.Loss), 6);
        Assert.Equal(Tensors.ToArray(cleanLogp.grad!), Tensors.ToArray(dirtyLogp.grad!));
        Assert.Equal(Tensors.ToArray(cleanEntropy.grad!), Tensors.ToArray(dirtyEntropy.grad!));
        foreach ((string name, double value) in actual.Metrics.ToNamedValues())
        {
            Assert.True(double.IsFinite(value), name);
        }
    }

    [Theory]
    [InlineData(LossKernel.Fused, "logp")]
    [InlineData(LossKernel.Composed, "logp")]
    [InlineData(LossKernel.Fused, "advantage")]
    [InlineData(LossKernel.Composed, "advantage")]
    public void A_NaN_at_a_response_token_propagates_to_the_loss_and_that_tokens_gradient(LossKernel kernel, string where)
    {
        // one documented behaviour for both kernels, as PyTorch propagates it: the fused gradient used to stay finite
        MixedBatch batch = MixedBatch.Random(13, b: 4, t: 16);
        (int i, int j) = (0, 0); // row 0 is on-policy with at least one token
        if (where == "logp")
        {
            batch.LogProbs[i, j] = double.NaN;
        }
        else
        {
            batch.Advantages[i, j] = double.NaN;
        }
        (PolicyLossInputs inputs, Tensor logp, _) = batch.ToInputs(ScalarType.Float32, Extras.None);
        using PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel }).Compute(inputs);
        result.Loss.backward();
        Assert.True(double.IsNaN(Tensors.Scalar(result.Loss)));
        double[,] g = Tensors.ToMatrix(logp.grad!);
        Assert.True(double.IsNaN(g[i, j]));
        for (int r = 0; r < batch.B; r++)
        {
            for (int c = 0; c < batch.T; c++)
            {
                Assert.True((r, c) == (i, j) || double.IsFinite(g[r, c]), $"gradient [{r}, {c}] = {g[r, c]}");
            }
        }
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void An_old_log_prob_at_a_trace_token_does_not_reach_the_loss(LossKernel kernel)
    {
        // the behaviour probability of a trace token is taken as 1: its old log-prob may be anything, even NaN
        MixedBatch batch = MixedBatch.Random(14);
        (PolicyLossInputs clean, Tensor cleanLogp, _) = batch.ToInputs(ScalarType.Float64, Extras.None);
        for (int i = 0; i < batch.B; i++)
        {
            for (int j = 0; j < batch.T; j++)
            {
                batch.OldLogProbs[i, j] = batch.Mask[i, j] && batch.OffPolicy[i, j] ? double.NaN : batch.OldLogProbs[i, j];
            }
        }
        (PolicyLossInputs dirty, Tensor dirtyLogp, _) = batch.ToInputs(ScalarType.Float64, Extras.None);
        using PolicyLossResult expected = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel }).Compute(clean);
        using PolicyLossResult actual = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel }).Compute(dirty);
        expected.Loss.backward();
        actual.Loss.backward();
        Assert.Equal(Tensors.Scalar(expected.Loss), Tensors.Scalar(actual.Loss));
        Assert.Equal(Tensors.ToArray(cleanLogp.grad!), Tensors.ToArray(dirtyLogp.grad!));
    }

    [Fact]
    public void Extreme_log_probs_give_finite_loss_and_gradient()
    {
        double[,] lp = { { -100.0, -50.0, 0.0, -1e-9 } };
        foreach (LossKernel kernel in new[] { LossKernel.Fused, LossKernel.Composed })
        {
            Tensor logp = Tensors.From(lp, ScalarType.Float32, requiresGrad: true);
            using PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel, OnPolicy = new ClippedSurrogate { Ratio = new RegularizedRatio() } }).Compute(new PolicyLossInputs
            {
                LogProbs = logp,
                OldLogProbs = Tensors.From(new double[,] { { 0.0, -100.0, -100.0, 0.0 } }, ScalarType.Float32),
                Advantages = Tensors.From(new double[,] { { 1.0, -1.0, 2.0, -2.0 } }, ScalarType.Float32),
                ResponseMask = ones(1, 4, dtype: ScalarType.Bool),
                OffPolicyMask = Tensors.Mask(new bool[,] { { true, false, false, true } }),
            });
            result.Loss.backward();
            Assert.True(double.IsFinite(Tensors.Scalar(result.Loss)));
            Assert.All(Tensors.ToArray(logp.grad!), g => Assert.True(double.IsFinite(g)));
        }
    }

    [Fact]
    public void Rl_with_sft_loss_trains_trace_sequences_only_through_minus_log_p()
    {
        // row 0 on-policy, row 1 a whole trace: the policy loss sees only row 0, the SFT term only row 1
        double[,] lp = { { -0.5, -1.0 }, { -2.0, -0.1 } };
        Tensor logp = Tensors.From(lp, ScalarType.Float64, requiresGrad: true);
        using PolicyLossResult result = new MixedPolicyLoss(PolicyLossOptions.RlWithSftLoss(0.5, new PolicyLossOptions { OnPolicy = ClippedSurrogate.Unclipped })).Compute(new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = Tensors.From(lp, ScalarType.Float64), Advantages = Tensors.From(new double[,] { { 2, 2 }, { 7, 7 } }, ScalarType.Float64),
            ResponseMask = ones(2, 2, dtype: ScalarType.Bool), OffPolicyMask = Tensors.Mask(new bool[,] { { false, false }, { true, true } }),
        });
        Assert.Equal(-2.0 + 0.5 * (2.0 + 0.1) / 2, Tensors.Scalar(result.Loss), 14);
        result.Loss.backward();
        Assert.Equal(new[] { -1.0, -1.0, -0.25, -0.25 }, Tensors.ToArray(logp.grad!));
        Assert.Equal((2.0 + 0.1) / 2, result.Metrics.SftLoss, 14);
        Assert.Equal(0, result.Metrics.OffPolicyTokens);
    }
}
