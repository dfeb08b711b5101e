namespace Luffy.Objectives.Tests.Losses;

/// <summary>Which kernel runs, and the fused kernel's autograd lifetimes.</summary>
public partial class MixedPolicyLossTests
{
    [Theory]
    [InlineData(16)]
    [InlineData(8)]
    [InlineData(1)]
    public void A_ratio_exactly_on_the_clip_bounds_gets_the_composed_ops_tie_gradient(int lanes)
    {
        // ClipLow = ClipHigh = 0 puts both bounds at 1, which every token with logp = old hits exactly (in every exp
        // implementation); torch's max splits the tie and clamp passes its boundary, so the gradient is the full −A.
        // Half of the tokens move off the bound so that clipped lanes sit next to tied ones.
        manual_seed(11);
        Tensor logp = (-rand(6, 37) * 2).requires_grad_(true);
        Tensor old = logp.detach().clone();
        old.narrow(1, 0, 18).add_(0.05 * randn(6, 18));
        Tensor advantages = randn(6, 37);
        Tensor mask = rand(6, 37).lt(0.9);
        var options = new PolicyLossOptions { OnPolicy = new ClippedSurrogate { ClipLow = 0, ClipHigh = 0, DualClip = 1.5 } };
        PolicyLossResult fused = LaneWidth.With(lanes, () => new MixedPolicyLoss(options with { Kernel = LossKernel.Fused }).Compute(new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask }));
        using PolicyLossResult disposeFused = fused;
        fused.Loss.backward();
        Tensor fusedGrad = logp.grad!.clone();
        logp.grad = null;
        using PolicyLossResult composed = new MixedPolicyLoss(options with { Kernel = LossKernel.Composed }).Compute(new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask });
        composed.Loss.backward();
        float[] expected = logp.grad!.data<float>().ToArray(), actual = fusedGrad.data<float>().ToArray();
        Assert.Contains(expected.Skip(18).Take(19), g => g != 0); // tied tokens keep their gradient
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 * Math.Abs(expected[i]) + 1e-9, $"token {i}: composed {expected[i]}, fused {actual[i]}");
        }
        Assert.Equal(composed.Metrics.ClipFraction, fused.Metrics.ClipFraction, 6);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(8)]
    [InlineData(1)]
    public void A_negative_advantage_token_tied_with_the_dual_clip_gets_half_its_gradient(int lanes)
    {
        // With the log ratio r = log p − log p_old (exact in float32 for these dyadic values), the tokens of the first 20
        // columns have r = 2 = c exactly, so for A < 0 the surrogate −A·r ties with the dual-clip value −A·c: torch's
        // minimum gives each side half the gradient, −A·r'/2 with r' = 1. The next columns have r = 3 > c (dual clip
        // active, gradient 0) and the last r = 1 (−A). Rows with A > 0 and r ∈ {2, 3} are PPO-clipped (gradient 0).
        int b = 6, t = 37;
        Tensor logp = (-(arange(b * t, dtype: ScalarType.Float32) % 16) / 8).reshape(b, t).requires_grad_(true);
        Tensor shift = ones(b, t) * 2;
        shift.narrow(1, 20, 9).fill_(3);
        shift.narrow(1, 29, 8).fill_(1);
        Tensor old = logp.detach() - shift;
        Tensor advantages = tensor(new float[] { -1.5f, 2f, -0.25f, 0.5f, -3f, 1f }).unsqueeze(1).expand(b, t).contiguous();
        Tensor mask = ones(b, t, dtype: ScalarType.Bool);
        var options = new PolicyLossOptions { OnPolicy = new ClippedSurrogate { Ratio = new LogRatio(), DualClip = 2 } };
        Tensor Gradient(LossKernel kernel)
        {
            logp.grad = null;
            using PolicyLossResult result = LaneWidth.With(lanes, () => new MixedPolicyLoss(options with { Kernel = kernel }).Compute(new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask }));
            result.Loss.backward();
            return logp.grad!.clone();
        }
        float[] fused = Gradient(LossKernel.Fused).data<float>().ToArray(), composed = Gradient(LossKernel.Composed).data<float>().ToArray();
        float[] a = advantages.data<float>().ToArray();
        for (int k = 0; k < b * t; k++)
        {
            int column = k % t;
            double factor = column >= 29 ? 1 : a[k] > 0 ? 0 : column < 20 ? 0.5 : 0;
            double expected = -a[k] * factor / (b * t);
            Assert.True(Math.Abs(fused[k] - expected) <= 1e-6 * Math.Abs(expected), $"token {k}: expected {expected}, fused {fused[k]}");
            Assert.True(Math.Abs(composed[k] - expected) <= 1e-6 * Math.Abs(expected), $"token {k}: expected {expected}, composed {composed[k]}");
        }
    }

    [Theory]
    [InlineData(16)]
    [InlineData(8)]
    [InlineData(1)]
    public void Rows_longer_than_a_vector_of_mask_bytes_are_counted_and_classified_as_the_composed_ops_do(int lanes)
    {
        // T = 200: three 64-byte blocks and a tail of 8 at 16 lanes, six 32-byte blocks and 8 at 8 lanes, bytes at 1, so
        // the per-row counts run through each loop and its tail. Row 1 has its single off-policy token in a block (column 70), row 3 in
        // the tail (column 195); row 4's off-policy flag sits on a padding token, so it is not a trace row.
        manual_seed(5);
        int b = 5, t = 200;
        Tensor logp = (-rand(b, t) * 2).requires_grad_(true);
        Tensor old = logp.detach() + 0.1 * randn(b, t);
        Tensor advantages = randn(b, 1).expand(b, t).contiguous();
        Tensor mask = rand(b, t).lt(0.7);
        mask[1, 70] = tensor(true);
        mask[3, 195] = tensor(true);
        mask[4, 70] = tensor(false);
        Tensor off = zeros(b, t, dtype: ScalarType.Bool);
        off[1, 70] = tensor(true);
        off[3, 195] = tensor(true);
        off[4, 70] = tensor(true);
        var inputs = new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask, OffPolicyMask = off };
        using PolicyLossResult fused = LaneWidth.With(lanes, () => new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Fused }).Compute(inputs));
        fused.Loss.backward();
        Tensor fusedGrad = logp.grad!.clone();
        logp.grad = null;
        using PolicyLossResult composed = new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Composed }).Compute(inputs);
        composed.Loss.backward();
        Assert.Equal(mask.sum().item<long>(), fused.Metrics.ResponseTokens);
        Assert.Equal(2, fused.Metrics.OffPolicyTokens);
        Assert.Equal(composed.Metrics.OnPolicyTokens, fused.Metrics.OnPolicyTokens);
        // a float32 mean of N terms is within N·2⁻²⁴·max|term| of the exact one (the fused sums are double)
        double n = mask.sum().item<long>(), maxTerm = (advantages.abs().max() * (logp.detach() - old).exp().max()).item<float>();
        Assert.True(Math.Abs(composed.Loss.item<float>() - fused.Loss.item<float>()) <= n * Math.Pow(2, -24) * maxTerm, $"loss: composed {composed.Loss.item<float>()}, fused {fused.Loss.item<float>()}");
        float[] expected = logp.grad!.data<float>().ToArray(), actual = fusedGrad.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * Math.Abs(expected[i]) + 1e-9, $"token {i}: composed {expected[i]}, fused {actual[i]}");
        }
    }

    public static TheoryData<int, string> LanesAndRatioOptions()
    {
        var data = new TheoryData<int, string>();
        foreach (int lanes in new[] { 16, 8, 1 })
        {
            foreach (string set in new[] { "clip", "dual clip + TIS", "regularized ratio", "regularized ratio, p ≈ 1", "unclipped" })
            {
                data.Add(lanes, set);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(LanesAndRatioOptions))]
    public void Log_ratios_beyond_the_clamp_get_the_composed_ops_loss_gradient_and_metrics(int lanes, string set)
    {
        // The log ratio d = log p − old is clamped to ±20 before the exponential (its gradient stops beyond, passes at the
        // bounds). A third of the tokens have |d| in (20, 25], a few exactly ±20, the rest |d| ≲ 0.3, so that most SIMD
        // vectors hold clamped lanes next to free ones (the kernel clamps only the vectors that need it); row 2 is a trace
        // row (off-policy prefix), whose on-policy continuation runs the mixed-row body. float32: the SIMD widths. With
        // p ≈ 1 (log p in (−2, 0], clamped log ratios positive only), p + γ of a clamped token is far from ρ·p_old + γ with
        // the clamped ρ = e^20 < e^d: the regularized ratio's p must be e^(log p) there.
        manual_seed(5);
        int b = 6, t = 53;
        bool nearOne = set == "regularized ratio, p ≈ 1";
        // otherwise log p in (−28, −25]: old = log p − d ≤ 0 for d ≥ −25
        Tensor logp = (nearOne ? -rand(b, t) * 2 : -rand(b, t) * 3 - 25).requires_grad_(true);
        Tensor far = rand(b, t).lt(1.0 / 3), sign = nearOne ? ones(b, t) : rand(b, t).lt(0.5).to_type(ScalarType.Float32) * 2 - 1;
        Tensor d = where(far, sign * (20 + 5 * rand(b, t)), 0.1 * randn(b, t));
        d[0, 5] = 20; d[1, 9] = nearOne ? 20 : -20; d[3, 17] = 20; d[4, 40] = nearOne ? 20 : -20;
        Tensor old = logp.detach() - d;
        Tensor advantages = randn(b, 1).expand(b, t).contiguous();
        Tensor mask = rand(b, t).lt(0.9);
        Tensor off = zeros(b, t, dtype: ScalarType.Bool);
        off[2].narrow(0, 0, 20).fill_(true);
        var options = set switch
        {
            "clip" => new PolicyLossOptions(),
            "dual clip + TIS" => new PolicyLossOptions { OnPolicy = new ClippedSurrogate { DualClip = 3 } },
            "regularized ratio" or "regularized ratio, p ≈ 1" => new PolicyLossOptions { OnPolicy = new ClippedSurrogate { Ratio = new RegularizedRatio(0.1) } },
            _ => PolicyLossOptions.LuffyMainRun with { EntropyCoefficient = 0 },
        };
        Tensor? weights = set == "dual clip + TIS" ? (0.5 + rand(b, t)).clamp_max(1.2) : null;
        var inputs = new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask, OffPolicyMask = off, RolloutWeights = weights };
        (PolicyLossResult fused, Tensor fusedGrad, PolicyLossResult composed) = FusedThenComposed(options, inputs, lanes);
        using PolicyLossResult disposeFused = fused, disposeComposed = composed;
        Assert.True(composed.Metrics.ClipFraction > 0 || set == "unclipped", "some tokens are clipped");
        // float32, ratios up to e^20 ≈ 4.9e8: each term is a few correctly rounded operations on an exp within 2e-7 (ours)
        // or 1 ulp (libtorch) of e^d, so terms agree to ~5e-7 relative; sums of ~300 terms in different orders (float32
        // in the composed ops, double here) add ~300·6e-8 of the sum of |terms|, which the loss and metrics bound
        AssertAgree(composed, logp.grad!, fused, fusedGrad, 3e-5, 2e-6);
    }

    [Theory]
    [InlineData(16, "regularized ratio")]
    [InlineData(8, "regularized ratio")]
    [InlineData(1, "regularized ratio")]
    [InlineData(16, "exponential ratio")]
    [InlineData(8, "exponential ratio")]
    [InlineData(1, "exponential ratio")]
    public void Old_log_probs_below_the_exponentials_range_get_the_composed_ops_loss_gradient_and_metrics(int lanes, string set)
    {
        // exp clamps its argument to [−87.9, 88.4] (below, e^x is under 1e-38); the regularized body clamps only the
        // vectors that need it. A fifth of the tokens have log p_old in [−1000, −88): their p_old is 0 to float32 in both
        // kernels, their log ratios are clamped, and the metric of the old probabilities must not see garbage.
        manual_seed(11);
        int b = 4, t = 45;
        Tensor logp = (-rand(b, t) * 2).requires_grad_(true);
        Tensor old = where(rand(b, t).lt(0.2), -88 - 912 * rand(b, t), logp.detach() - 0.1 * randn(b, t));
        Tensor advantages = randn(b, 1).expand(b, t).contiguous();
        Tensor mask = rand(b, t).lt(0.9);
        var options = new PolicyLossOptions { OnPolicy = new ClippedSurrogate { DualClip = 3, Ratio = set == "regularized ratio" ? new RegularizedRatio(0.1) : new ExponentialRatio() } };
        var inputs = new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask };
        (PolicyLossResult fused, Tensor fusedGrad, PolicyLossResult composed) = FusedThenComposed(options, inputs, lanes);
        using PolicyLossResult disposeFused = fused, disposeComposed = composed;
        // as in the clamp test: ratios up to e^20, a few correctly rounded operations per term, sums of ~160 terms
        AssertAgree(composed, logp.grad!, fused, fusedGrad, 3e-5, 2e-6);
    }

    public static TheoryData<int, string, string> LanesRatiosAndNaNs()
    {
        var data = new TheoryData<int, string, string>();
        foreach (int lanes in new[] { 16, 8, 1 })
        {
            foreach (string ratio in new[] { "exponential", "regularized", "log" })
            {
                data.Add(lanes, ratio, "logp");
                data.Add(lanes, ratio, "advantage");
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(LanesRatiosAndNaNs))]
    public void A_NaN_token_beside_a_clamped_log_ratio_gets_a_NaN_gradient_and_its_neighbours_finite_ones(int lanes, string ratio, string nan)
    {
        // Token 0 of each row is NaN (its log-prob or advantage); token 1, in the same SIMD vector at every width, has a
        // log ratio of 25, beyond the ±20 clamp, so the kernel clamps that vector; tokens 2 and 3 are clipped (r = e^±1).
        // Rows alternate the advantage's sign, so both clip bounds and the dual clip are active somewhere. The log ratio
        // (r = d, r' = 1: its derivative is not NaN with d) runs the general body.
        int b = 4, t = 21;
        Tensor logp = (-1 - rand(b, t)).requires_grad_(true);
        Tensor d = 0.05 * randn(b, t);
        d.narrow(1, 1, 1).fill_(25);
        d.narrow(1, 2, 1).fill_(1);
        d.narrow(1, 3, 1).fill_(-1);
        Tensor old = logp.detach() - d;
        Tensor advantages = tensor(new float[] { 1.5f, -0.5f, 2f, -1f }).unsqueeze(1).expand(b, t).contiguous();
        Tensor lp = logp;
        if (nan == "logp")
        {
            lp = logp.detach().clone();
            lp.narrow(1, 0, 1).fill_(float.NaN);
            lp.requires_grad_(true);
        }
        else
        {
            advantages.narrow(1, 0, 1).fill_(float.NaN);
        }
        var options = new PolicyLossOptions { OnPolicy = new ClippedSurrogate { DualClip = 3, Ratio = ratio switch { "regularized" => new RegularizedRatio(0.1), "log" => new LogRatio(), _ => new ExponentialRatio() } } };
        foreach (LossKernel kernel in new[] { LossKernel.Fused, LossKernel.Composed })
        {
            lp.grad = null;
            using PolicyLossResult result = LaneWidth.With(lanes, () => new MixedPolicyLoss(options with { Kernel = kernel }).Compute(new PolicyLossInputs { LogProbs = lp, OldLogProbs = old, Advantages = advantages, ResponseMask = ones(b, t, dtype: ScalarType.Bool) }));
            Assert.Equal(kernel, result.Kernel);
            result.Loss.backward();
            Assert.True(double.IsNaN(Tensors.Scalar(result.Loss)), $"{kernel}: the loss is NaN");
            double[,] g = Tensors.ToMatrix(lp.grad!);
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < t; j++)
                {
                    Assert.True(j == 0 ? double.IsNaN(g[i, j]) : double.IsFinite(g[i, j]), $"{kernel}: gradient [{i}, {j}] = {g[i, j]}");
                }
            }
        }
    }

    /// <summary>
    /// Forward and backward of the fused kernel (at <paramref name="lanes"/>, or the widest here), its LogProbs gradient
    /// copied, then of the composed ops, whose gradient stays in LogProbs.grad; the caller disposes both results.
    /// </summary>
    private static (PolicyLossResult Fused, Tensor FusedGrad, PolicyLossResult Composed) FusedThenComposed(PolicyLossOptions options, PolicyLossInputs inputs, int? lanes)
    {
        var loss = new MixedPolicyLoss(options with { Kernel = LossKernel.Fused });
        PolicyLossResult fused = lanes is int width ? LaneWidth.With(width, () => loss.Compute(inputs)) : loss.Compute(inputs);
        Assert.Equal(LossKernel.Fused, fused.Kernel);
        fused.Loss.backward();
        Tensor fusedGrad = inputs.LogProbs.grad!.clone();
        inputs.LogProbs.grad = null;
        PolicyLossResult composed = new MixedPolicyLoss(options with { Kernel = LossKernel.Composed }).Compute(inputs);
        composed.Loss.backward();
        return (fused, fusedGrad, composed);
    }

    /// <summary>Loss and metrics within <paramref name="scalars"/> (relative, floor 1), the gradient within <paramref name="gradient"/> of the array's scale.</summary>
    private static void AssertAgree(PolicyLossResult composed, Tensor composedGrad, PolicyLossResult fused, Tensor fusedGrad, double scalars, double gradient)
    {
        AssertClose.Scalar(Tensors.Scalar(composed.Loss), Tensors.Scalar(fused.Loss), scalars, 1.0, "loss");
        AssertClose.Array(Tensors.ToArray(composedGrad), Tensors.ToArray(fusedGrad), gradient, "dL/dlogp");
        var expected = composed.Metrics.ToNamedValues();
        var actual = fused.Metrics.ToNamedValues();
        for (int k = 0; k < expected.Count; k++)
        {
            AssertClose.Scalar(expected[k].Value, actual[k].Value, scalars, 1.0, expected[k].Key);
        }
    }

    [Theory]
    [InlineData(LossAggregation.TokenMean, null)]
    [InlineData(LossAggregation.SequenceMeanTokenMean, 0.5)]
    public void A_batch_whose_rows_are_counted_in_parallel_gets_the_composed_ops_loss_gradient_and_metrics(LossAggregation aggregation, double? allMaxClip)
    {
        // (40, 1024) = 40,960 tokens: from 32,768 the per-row counts (response tokens, trace rows, tokens all-max-clip
        // keeps) run in parallel tasks of 16 rows, so the rows of several tasks feed the normalizers and row weights.
        // Rows 3, 17 and 38 carry traces (in the first, second and last task).
        manual_seed(11);
        int b = 40, t = 1024;
        Tensor logp = (-rand(b, t, dtype: ScalarType.Float64) * 2).requires_grad_(true);
        Tensor old = logp.detach() + 0.1 * randn(b, t, dtype: ScalarType.Float64);
        Tensor advantages = randn(b, 1, dtype: ScalarType.Float64).expand(b, t).contiguous();
        Tensor mask = rand(b, t).lt(0.3 + 0.6 * rand(b, 1)); // rows of different lengths
        Tensor off = zeros(b, t, dtype: ScalarType.Bool);
        foreach (int row in new[] { 3, 17, 38 })
        {
            off[row].narrow(0, 0, 300).fill_(true);
        }
        var inputs = new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask, OffPolicyMask = off };
        var options = new PolicyLossOptions { Aggregation = aggregation, AllMaxClip = allMaxClip, AllowAggregationMismatch = true };
        (PolicyLossResult fused, Tensor fusedGrad, PolicyLossResult composed) = FusedThenComposed(options, inputs, lanes: null);
        using PolicyLossResult disposeFused = fused, disposeComposed = composed;
        // float64: sums of 40,960 terms of size O(1) in different orders differ by ~1e-12 of the terms' scale
        AssertAgree(composed, logp.grad!, fused, fusedGrad, 1e-10, 1e-10);
        Assert.Equal((mask & off).sum().item<long>(), fused.Metrics.OffPolicyTokens);
    }

    [Fact]
    public void Auto_runs_the_fused_kernel_on_cpu_and_the_result_says_so()
    {
        MixedBatch batch = MixedBatch.Random(2);
        (PolicyLossInputs inputs, _, _) = batch.ToInputs(ScalarType.Float32, Extras.None);
        using PolicyLossResult result = new MixedPolicyLoss().Compute(inputs);
        Assert.Equal(LossKernel.Fused, result.Kernel);
        Assert.Equal("", result.KernelReason);
    }

    public static TheoryData<string, PolicyLossOptions, string> ComposedOnly => new()
    {
        { "custom shaping", new PolicyLossOptions { Shaping = new CustomShaping() }, "CustomShaping" },
        { "custom ratio", new PolicyLossOptions { OnPolicy = new ClippedSurrogate { Ratio = new CustomRatio() } }, "CustomRatio" },
        { "GSPO", PolicyLossOptions.Gspo, "GroupSequenceSurrogate" },
        { "custom objective", new PolicyLossOptions { OnPolicy = new CustomObjective() }, "CustomObjective" },
    };

    [Theory]
    [MemberData(nameof(ComposedOnly))]
    public void What_the_fused_kernel_does_not_run_falls_back_to_composed_and_the_result_says_why(string what, PolicyLossOptions options, string named)
    {
        MixedBatch batch = MixedBatch.Random(2);
        (PolicyLossInputs inputs, Tensor logp, _) = batch.ToInputs(ScalarType.Float32, Extras.None);
        using PolicyLossResult result = new MixedPolicyLoss(options).Compute(inputs);
        Assert.Equal(LossKernel.Composed, result.Kernel);
        Assert.Contains(named, result.KernelReason);
        result.Loss.backward();
        Assert.True(double.IsFinite(Tensors.Scalar(result.Loss)), what);
        var ex = Assert.Throws<NotSupportedException>(() => new MixedPolicyLoss(options with { Kernel = LossKernel.Fused }).Compute(inputs));
        Assert.Contains(named, ex.Message);
    }

    [Fact]
    public void Bfloat16_runs_composed_and_fused_refuses_it()
    {
        MixedBatch batch = MixedBatch.Random(2);
        (PolicyLossInputs bf, _, _) = batch.ToInputs(ScalarType.BFloat16, Extras.None);
        var ex = Assert.Throws<NotSupportedException>(() => new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Fused }).Compute(bf));
        Assert.Contains("BFloat16", ex.Message);
        using PolicyLossResult composed = new MixedPolicyLoss().Compute(bf);
        Assert.Equal(LossKernel.Composed, composed.Kernel);
        Assert.Contains("BFloat16", composed.KernelReason);
        Assert.True(double.IsFinite(Tensors.Scalar(composed.Loss)));
    }

    [Fact]
    public void Requesting_the_composed_kernel_is_reported_as_the_reason()
    {
        (PolicyLossInputs inputs, _, _) = MixedBatch.Random(2).ToInputs(ScalarType.Float32, Extras.None);
        using PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Composed }).Compute(inputs);
        Assert.Equal(LossKernel.Composed, result.Kernel);
        Assert.Contains("LossKernel.Composed", result.KernelReason);
    }

    private sealed class CustomShaping : IShapingFunction
    {
        public string Name => "custom";

        public Tensor Apply(Tensor logProbs) => logProbs.exp();

        public Tensor DerivativeWithRespectToLogProb(Tensor logProbs) => logProbs.exp();

        public double Evaluate(double logProb) => Math.Exp(logProb);
    }

    private sealed class CustomRatio : IRatioReshaping
    {
        public string Name => "custom";

        public Tensor Apply(Tensor logProbs, Tensor oldLogProbs) => (logProbs - oldLogProbs).exp();

        public double Evaluate(double logProb, double oldLogProb) => Math.Exp(logProb - oldLogProb);
    }

    private sealed class CustomObjective : IOnPolicyObjective
    {
        public string Name => "reinforce";

        public OnPolicyTerms Compute(OnPolicyContext context) => new(-context.Advantages * context.LogProbs);
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void Backward_after_disposing_the_result_still_gives_the_gradient(LossKernel kernel)
    {
        MixedBatch batch = MixedBatch.Random(4);
        (PolicyLossInputs a, Tensor la, _) = batch.ToInputs(ScalarType.Float64, Extras.None);
        (PolicyLossInputs b, Tensor lb, _) = batch.ToInputs(ScalarType.Float64, Extras.None);
        var loss = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel });
        PolicyLossResult early = loss.Compute(a);
        Tensor lossTensor = early.Loss.alias();
        early.Dispose();
        lossTensor.backward();
        using PolicyLossResult normal = loss.Compute(b);
        normal.Loss.backward();
        Assert.Equal(Tensors.ToArray(lb.grad!), Tensors.ToArray(la.grad!));
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void Every_input_can_be_disposed_before_backward(LossKernel kernel)
    {
        // dispose each micro-batch's tensors, backward once: the fused backward used to re-read the response mask
        // (for the entropy gradient) and abort the process
        MixedBatch batch = MixedBatch.Random(6);
        Extras all = Extras.Reference | Extras.Entropy | Extras.TraceProbabilities | Extras.RolloutWeights;
        PolicyLossOptions options = PolicyLossOptions.LuffyMainRun with { Kernel = kernel, KlCoefficient = 0.1, SftCoefficient = 0.2, AllMaxClip = 0.9 };
        (PolicyLossInputs expectedInputs, Tensor expectedLogp, Tensor expectedEntropy) = batch.ToInputs(ScalarType.Float32, all);
        using PolicyLossResult expected = new MixedPolicyLoss(options).Compute(expectedInputs);
        expected.Loss.backward();

        Tensor logpLeaf = Tensors.From(batch.LogProbs, ScalarType.Float32, requiresGrad: true);
        Tensor entropyLeaf = Tensors.From(batch.Entropy, ScalarType.Float32, requiresGrad: true);
        (PolicyLossInputs inputs, _, _) = batch.ToInputs(ScalarType.Float32, all);
        Tensor logp = logpLeaf * 1, entropy = entropyLeaf * 1; // non-leaf inputs, as a model's outputs are
        PolicyLossResult result = new MixedPolicyLoss(options).Compute(new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = inputs.OldLogProbs, Advantages = inputs.Advantages, ResponseMask = inputs.ResponseMask,
            OffPolicyMask = inputs.OffPolicyMask, ReferenceLogProbs = inputs.ReferenceLogProbs, Entropy = entropy,
            TraceProbabilities = inputs.TraceProbabilities, RolloutWeights = inputs.RolloutWeights,
        });
        foreach (Tensor t in new[] { logp, entropy, inputs.OldLogProbs, inputs.Advantages, inputs.ResponseMask, inputs.OffPolicyMask!, inputs.ReferenceLogProbs!, inputs.TraceProbabilities!, inputs.RolloutWeights! })
        {
            t.Dispose();
        }
        result.Loss.backward();
        result.Dispose();
        Assert.Equal(Tensors.ToArray(expectedLogp.grad!), Tensors.ToArray(logpLeaf.grad!));
        Assert.Equal(Tensors.ToArray(expectedEntropy.grad!), Tensors.ToArray(entropyLeaf.grad!));
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void A_second_backward_without_a_retained_graph_throws_and_adds_nothing(LossKernel kernel)
    {
        MixedBatch batch = MixedBatch.Random(5);
        (PolicyLossInputs inputs, Tensor logProbs, _) = batch.ToInputs(ScalarType.Float64, Extras.Entropy);
        using PolicyLossResult result = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun with { Kernel = kernel }).Compute(inputs);
        result.Loss.backward();
        double[] once = Tensors.ToArray(logProbs.grad!);
        var ex = Assert.ThrowsAny<Exception>(() => result.Loss.backward());
        Assert.Contains("second time", ex.Message);
        Assert.Equal(once, Tensors.ToArray(logProbs.grad!));
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void Repeated_backward_through_a_retained_graph_accumulates_the_true_gradient(LossKernel kernel)
    {
        // The fused backward hands its gradient buffer to autograd; clipping or an optimizer may then change .grad in
        // place, and a second backward through the same graph must still add the true gradient.
        MixedBatch batch = MixedBatch.Random(5);
        (PolicyLossInputs inputs, Tensor logProbs, _) = batch.ToInputs(ScalarType.Float64, Extras.None);
        using PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel }).Compute(inputs);
        result.Loss.backward(retain_graph: true);
        double[] once = Tensors.ToArray(logProbs.grad!);
        Assert.Contains(once, g => g != 0);
        using (no_grad())
        {
            logProbs.grad!.mul_(10); // in place, as clip_grad_norm_ does
        }
        result.Loss.backward(retain_graph: true);
        double[] after = Tensors.ToArray(logProbs.grad!);
        for (int i = 0; i < once.Length; i++)
        {
            Assert.Equal(11 * once[i], after[i], 12);
        }
        (result.Loss * 2).backward();
        double[] third = Tensors.ToArray(logProbs.grad!);
        for (int i = 0; i < once.Length; i++)
        {
            Assert.Equal(13 * once[i], third[i], 12);
        }
    }

    [Fact]
    public void A_disposed_result_throws_object_disposed()
    {
        (PolicyLossInputs inputs, _, _) = MixedBatch.Random(3).ToInputs(ScalarType.Float32, Extras.None);
        PolicyLossResult result = new MixedPolicyLoss().Compute(inputs);
        result.Dispose();
        Assert.Throws<ObjectDisposedException>(() => result.Loss);
        Assert.Throws<ObjectDisposedException>(() => result.Metrics);
        result.Dispose(); // idempotent
    }

    [Fact]
    public void Caller_tensors_survive_the_loss_and_its_disposal()
    {
        MixedBatch batch = MixedBatch.Random(3);
        (PolicyLossInputs inputs, Tensor logp, _) = batch.ToInputs(ScalarType.Float32, Extras.None);
        using (PolicyLossResult result = new MixedPolicyLoss().Compute(inputs))
        {
            result.Loss.backward();
        }
        Assert.False(logp.IsInvalid);
        Assert.False(inputs.OldLogProbs.IsInvalid);
        Assert.False(inputs.ResponseMask.IsInvalid);
        Assert.Equal(batch.B, logp.shape[0]);
    }
}
