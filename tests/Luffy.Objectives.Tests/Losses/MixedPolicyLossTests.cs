namespace Luffy.Objectives.Tests.Losses;

public class MixedPolicyLossTests
{
    public sealed record Variant(string Name, PolicyLossOptions Options, bool WithReference, bool WithEntropy)
    {
        public override string ToString() => Name;
    }

    public static readonly Variant[] Variants =
    [
        new("default clipped PPO, gamma 0.1, token-mean", new PolicyLossOptions(), false, false),
        new("LUFFY main run", PolicyLossOptions.LuffyMainRun, false, true),
        new("clip-higher, dual-clip 3, seq-mean-token-sum", new PolicyLossOptions { ClipHigh = 0.28, DualClip = 3, Aggregation = LossAggregation.SequenceMeanTokenSum }, false, false),
        new("unclipped, identity shaping, seq-mean-token-mean", new PolicyLossOptions { ClipOnPolicyRatio = false, Shaping = new IdentityShaping(), Aggregation = LossAggregation.SequenceMeanTokenMean }, false, false),
        new("power 2, sum-norm C=64", new PolicyLossOptions { Shaping = new PowerShaping(2), Aggregation = LossAggregation.SequenceMeanTokenSumNorm, AggregationConstant = 64 }, false, false),
        new("sqrt, max clamp 0.5, k1 KL", new PolicyLossOptions { Shaping = new SquareRootShaping(), OffPolicyMaxClamp = 0.5, KlCoefficient = 0.1, KlEstimator = KlEstimator.K1 }, true, false),
        new("log 0.5, clamps [-1.5, -0.05], abs KL", new PolicyLossOptions { Shaping = new LogShaping(0.5), OffPolicyMinClamp = -1.5, OffPolicyMaxClamp = -0.05, KlCoefficient = 0.2, KlEstimator = KlEstimator.Absolute }, true, false),
        new("identity+log 0.3, k2 KL, entropy", new PolicyLossOptions { Shaping = new IdentityPlusLogShaping(0.3), KlCoefficient = 0.05, KlEstimator = KlEstimator.K2, EntropyCoefficient = 0.01, Aggregation = LossAggregation.SequenceMeanTokenMean }, true, true),
        new("gamma 0.5, clamps [0.1, 0.6], all-token metrics", new PolicyLossOptions { Shaping = new RegularizedShaping(0.5), OffPolicyMinClamp = 0.1, OffPolicyMaxClamp = 0.6, MetricScope = MetricScope.AllResponseTokens }, false, false),
        new("dual-clip 1.1 below 1+eps, k3 KL, entropy", new PolicyLossOptions { DualClip = 1.1, KlCoefficient = 0.1, EntropyCoefficient = 0.01 }, true, true),
        new("unclipped with dual-clip 2, sum-norm C=T", new PolicyLossOptions { ClipOnPolicyRatio = false, DualClip = 2, Aggregation = LossAggregation.SequenceMeanTokenSumNorm }, false, false),
        new("gamma 0.3, asymmetric clip, seq-mean-token-sum, k3 unweighted metric", new PolicyLossOptions { Shaping = new RegularizedShaping(0.3), ClipLow = 0.1, ClipHigh = 0.3, Aggregation = LossAggregation.SequenceMeanTokenSum }, true, false),
    ];

    public static TheoryData<Variant, string, LossKernel> VariantsByDtype()
    {
        var data = new TheoryData<Variant, string, LossKernel>();
        foreach (Variant v in Variants)
        {
            foreach (LossKernel kernel in new[] { LossKernel.Fused, LossKernel.Composed })
            {
                data.Add(v, "float32", kernel);
                data.Add(v, "float64", kernel);
            }
        }
        return data;
    }

    private static ScalarType Parse(string dtype) => dtype == "float64" ? ScalarType.Float64 : ScalarType.Float32;

    [Theory]
    [MemberData(nameof(VariantsByDtype))]
    public void Loss_and_gradients_match_an_independent_double_computation(Variant variant, string dtype, LossKernel kernel)
    {
        ScalarType type = Parse(dtype);
        double rtol = Tensors.Tolerance(type);
        var loss = new MixedPolicyLoss(variant.Options with { Kernel = kernel });
        foreach (int seed in new[] { 1, 2, 3 })
        {
            MixedBatch batch = MixedBatch.Random(seed);
            ReferenceLoss.Result expected = ReferenceLoss.Compute(batch, variant.Options, variant.WithReference, variant.WithEntropy);
            (PolicyLossInputs inputs, Tensor logp, Tensor entropy) = batch.ToInputs(type, variant.WithReference, variant.WithEntropy);
            using PolicyLossResult result = loss.Compute(inputs);
            result.Loss.backward();

            AssertClose.Scalar(expected.Loss, Tensors.Scalar(result.Loss), rtol, floor: 1e-3, what: $"loss (seed {seed})");
            AssertClose.Matrix(expected.GradLogProbs, Tensors.ToMatrix(logp.grad!), rtol, $"dL/dlogp (seed {seed})");
            if (variant.WithEntropy)
            {
                AssertClose.Matrix(expected.GradEntropy, Tensors.ToMatrix(entropy.grad!), rtol, $"dL/dH (seed {seed})");
            }
        }
    }

    [Theory]
    [MemberData(nameof(VariantsByDtype))]
    public void Metrics_match_an_independent_double_computation(Variant variant, string dtype, LossKernel kernel)
    {
        ScalarType type = Parse(dtype);
        double rtol = Tensors.Tolerance(type) * 10;
        MixedBatch batch = MixedBatch.Random(7);
        ReferenceLoss.Result expected = ReferenceLoss.Compute(batch, variant.Options, variant.WithReference, variant.WithEntropy);
        (PolicyLossInputs inputs, _, _) = batch.ToInputs(type, variant.WithReference, variant.WithEntropy);
        using PolicyLossResult result = new MixedPolicyLoss(variant.Options with { Kernel = kernel }).Compute(inputs);
        PolicyLossMetrics m = result.Metrics;

        AssertClose.Scalar(expected.Loss, m.Loss, rtol, 1e-3, "loss");
        AssertClose.Scalar(expected.OnLoss, m.OnPolicyLoss, rtol, 1e-3, "on_pg_loss");
        AssertClose.Scalar(expected.OffLoss, m.OffPolicyLoss, rtol, 1e-3, "off_pg_loss");
        AssertClose.Scalar(expected.ClipFraction, m.OnPolicyClipFraction, rtol, 1e-3, "on_pg_clipfrac");
        AssertClose.Scalar(expected.OffRatioMean, m.OffPolicyRatioMean, rtol, 1e-3, "off_ratio_mean");
        Assert.Equal(batch.TokenCount(), m.OnPolicyTokens + m.OffPolicyTokens);
    }

    [Property(MaxTest = 40)]
    public Property Masked_positions_get_exactly_zero_gradient() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(0, 2 * Variants.Length - 1).ToArbitrary(), (seed, v) =>
        {
            Variant variant = Variants[v / 2];
            variant = variant with { Options = variant.Options with { Kernel = v % 2 == 0 ? LossKernel.Fused : LossKernel.Composed } };
            MixedBatch batch = MixedBatch.Random(seed, b: 6, t: 10);
            (PolicyLossInputs inputs, Tensor logp, Tensor entropy) = batch.ToInputs(ScalarType.Float64, variant.WithReference, variant.WithEntropy);
            using PolicyLossResult result = new MixedPolicyLoss(variant.Options).Compute(inputs);
            result.Loss.backward();
            double[,] g = Tensors.ToMatrix(logp.grad!);
            double[,]? h = variant.WithEntropy ? Tensors.ToMatrix(entropy.grad!) : null;
            for (int i = 0; i < batch.B; i++)
            {
                for (int j = 0; j < batch.T; j++)
                {
                    if (!batch.Mask[i, j] && (g[i, j] != 0.0 || (h is not null && h[i, j] != 0.0)))
                    {
                        return false;
                    }
                }
            }
            return true;
        });

    public static IEnumerable<LossAggregation> Modes => Enum.GetValues<LossAggregation>();

    [Property(MaxTest = 40)]
    public Property Micro_batch_losses_with_the_global_normalizer_sum_to_the_full_batch_loss() =>
        Prop.ForAll(
            Gen.Choose(0, 1_000_000).ToArbitrary(),
            Gen.Choose(1, 7).ToArbitrary(),
            Gen.Elements(Modes.ToArray()).ToArbitrary(),
            (seed, split, mode) =>
            {
                var options = new PolicyLossOptions { Aggregation = mode, DualClip = 3, EntropyCoefficient = 0.01, KlCoefficient = 0.1 };
                var loss = new MixedPolicyLoss(options);
                MixedBatch batch = MixedBatch.Random(seed, b: 8, t: 12);
                double? normalizer = mode switch
                {
                    LossAggregation.TokenMean => Math.Max(batch.TokenCount(), 1),
                    LossAggregation.SequenceMeanTokenSumNorm => null,
                    _ => Math.Max(batch.NonEmptySequenceCount(), 1),
                };

                (PolicyLossInputs full, Tensor fullLogp, Tensor fullEntropy) = batch.ToInputs(ScalarType.Float64, true, true);
                using PolicyLossResult fullResult = loss.Compute(full);
                fullResult.Loss.backward();

                double sum = 0;
                var grads = new List<double>();
                var entropyGrads = new List<double>();
                foreach ((int start, int count) in new[] { (0, split), (split, 8 - split) })
                {
                    (PolicyLossInputs part, Tensor logp, Tensor entropy) = batch.Rows(start, count).ToInputs(ScalarType.Float64, true, true, normalizer);
                    using PolicyLossResult r = loss.Compute(part);
                    r.Loss.backward();
                    sum += Tensors.Scalar(r.Loss);
                    grads.AddRange(Tensors.ToArray(logp.grad!));
                    entropyGrads.AddRange(Tensors.ToArray(entropy.grad!));
                }
                double fullValue = Tensors.Scalar(fullResult.Loss);
                AssertClose.Scalar(fullValue, sum, 1e-12, 1e-6, "sum of micro-batch losses");
                AssertClose.Array(Tensors.ToArray(fullLogp.grad!), grads.ToArray(), 1e-12, "dL/dlogp");
                AssertClose.Array(Tensors.ToArray(fullEntropy.grad!), entropyGrads.ToArray(), 1e-12, "dL/dH");
                return true;
            });

    [Property(MaxTest = 40)]
    public Property Adding_padded_columns_changes_nothing() =>
        Prop.ForAll(
            Gen.Choose(0, 1_000_000).ToArbitrary(),
            Gen.Choose(1, 9).ToArbitrary(),
            Gen.Elements(Modes.ToArray()).ToArbitrary(),
            (seed, extra, mode) =>
            {
                // Sum-norm divides by C; with C = T by default, padding changes T, so C is fixed here.
                var options = new PolicyLossOptions { Aggregation = mode, AggregationConstant = 50, KlCoefficient = 0.1, EntropyCoefficient = 0.01 };
                var loss = new MixedPolicyLoss(options);
                MixedBatch batch = MixedBatch.Random(seed, b: 6, t: 10);
                MixedBatch padded = batch.PadColumns(extra, seed + 1);
                (PolicyLossInputs a, Tensor logpA, _) = batch.ToInputs(ScalarType.Float64, true, true);
                (PolicyLossInputs b, Tensor logpB, _) = padded.ToInputs(ScalarType.Float64, true, true);
                using PolicyLossResult ra = loss.Compute(a);
                using PolicyLossResult rb = loss.Compute(b);
                ra.Loss.backward();
                rb.Loss.backward();
                AssertClose.Scalar(Tensors.Scalar(ra.Loss), Tensors.Scalar(rb.Loss), 1e-12, 1e-6, "loss");
                var metricsA = ra.Metrics.ToNamedValues();
                var metricsB = rb.Metrics.ToNamedValues();
                for (int k = 0; k < metricsA.Count; k++)
                {
                    AssertClose.Scalar(metricsA[k].Value, metricsB[k].Value, 1e-12, 1e-6, metricsA[k].Key);
                }
                Tensor gradPrefix = logpB.grad!.narrow(1, 0, batch.T);
                AssertClose.Array(Tensors.ToArray(logpA.grad!), Tensors.ToArray(gradPrefix), 1e-12, "dL/dlogp");
                return true;
            });

    [Property(MaxTest = 60)]
    public Property Fused_and_composed_kernels_agree_on_value_gradients_and_metrics() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(0, Variants.Length - 1).ToArbitrary(), Gen.Elements(Enum.GetValues<LossAggregation>()).ToArbitrary(), (seed, v, mode) =>
        {
            Variant variant = Variants[v];
            PolicyLossOptions options = variant.Options with { Aggregation = mode, MetricScope = seed % 2 == 0 ? MetricScope.OnPolicyTokens : MetricScope.AllResponseTokens };
            MixedBatch batch = MixedBatch.Random(seed, b: 7, t: 13);
            double? normalizer = seed % 3 == 0 ? 11.0 : null;
            (PolicyLossInputs fi, Tensor fl, Tensor fe) = batch.ToInputs(ScalarType.Float64, variant.WithReference, variant.WithEntropy, normalizer);
            (PolicyLossInputs ci, Tensor cl, Tensor ce) = batch.ToInputs(ScalarType.Float64, variant.WithReference, variant.WithEntropy, normalizer);
            using PolicyLossResult fused = new MixedPolicyLoss(options with { Kernel = LossKernel.Fused }).Compute(fi);
            using PolicyLossResult composed = new MixedPolicyLoss(options with { Kernel = LossKernel.Composed }).Compute(ci);
            fused.Loss.backward();
            composed.Loss.backward();
            // The loss and the metrics are means of O(1) token terms that can cancel to near zero (on_pg_loss of
            // -1e-5 from terms of size 1 with seed 860462); the two kernels sum in different orders, so the
            // tolerance floor is the terms' scale (1), not the mean's.
            AssertClose.Scalar(Tensors.Scalar(composed.Loss), Tensors.Scalar(fused.Loss), 1e-12, 1.0, "loss");
            AssertClose.Array(Tensors.ToArray(cl.grad!), Tensors.ToArray(fl.grad!), 1e-12, "dL/dlogp");
            if (variant.WithEntropy && options.EntropyCoefficient > 0)
            {
                AssertClose.Array(Tensors.ToArray(ce.grad!), Tensors.ToArray(fe.grad!), 1e-12, "dL/dH");
            }
            var a = composed.Metrics.ToNamedValues();
            var b = fused.Metrics.ToNamedValues();
            for (int k = 0; k < a.Count; k++)
            {
                AssertClose.Scalar(a[k].Value, b[k].Value, 1e-12, 1.0, a[k].Key);
            }
            return true;
        });

    [Property(MaxTest = 90)]
    public Property Float32_fused_kernel_matches_the_double_reference_for_any_length_and_simd_width() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(0, Variants.Length - 1).ToArbitrary(), (from t in Gen.Choose(1, 41) from lanes in Gen.Elements(16, 8, 1) select (t, lanes)).ToArbitrary(), (seed, v, shape) =>
        {
            (int t, int lanes) = shape;
            // lengths that are not multiples of the SIMD width exercise the 16- and 8-lane bodies and the scalar
            // tail; capping the width checks the narrower paths on hardware that would pick a wider one
            Variant variant = Variants[v];
            MixedBatch batch = MixedBatch.Random(seed, b: 5, t: t);
            ReferenceLoss.Result expected = ReferenceLoss.Compute(batch, variant.Options, variant.WithReference, variant.WithEntropy);
            (PolicyLossInputs inputs, Tensor logp, Tensor entropy) = batch.ToInputs(ScalarType.Float32, variant.WithReference, variant.WithEntropy);
            FusedPolicyLoss.MaxLanesOverride = lanes;
            PolicyLossResult result;
            try
            {
                result = new MixedPolicyLoss(variant.Options with { Kernel = LossKernel.Fused }).Compute(inputs);
            }
            finally
            {
                FusedPolicyLoss.MaxLanesOverride = null;
            }
            using PolicyLossResult disposeResult = result;
            result.Loss.backward();
            // sums of O(1) token terms can cancel to near zero; float32 rounding scales with the terms, so the
            // tolerance floor is the terms' scale (1), not the sum's
            AssertClose.Scalar(expected.Loss, Tensors.Scalar(result.Loss), 1e-5, 1.0, "loss");
            AssertClose.Matrix(expected.GradLogProbs, Tensors.ToMatrix(logp.grad!), 1e-5, "dL/dlogp");
            AssertClose.Scalar(expected.OnLoss, result.Metrics.OnPolicyLoss, 1e-5, 1.0, "on_pg_loss");
            AssertClose.Scalar(expected.OffLoss, result.Metrics.OffPolicyLoss, 1e-5, 1.0, "off_pg_loss");
            AssertClose.Scalar(expected.ClipFraction, result.Metrics.OnPolicyClipFraction, 1e-5, 1.0, "clipfrac");
            return true;
        });

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
        var options = new PolicyLossOptions { ClipLow = 0, ClipHigh = 0, DualClip = 1.5 };
        FusedPolicyLoss.MaxLanesOverride = lanes;
        PolicyLossResult fused;
        try
        {
            fused = new MixedPolicyLoss(options with { Kernel = LossKernel.Fused }).Compute(new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask });
        }
        finally
        {
            FusedPolicyLoss.MaxLanesOverride = null;
        }
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
        Assert.Equal(composed.Metrics.OnPolicyClipFraction, fused.Metrics.OnPolicyClipFraction, 6);
    }

    [Fact]
    public void Auto_uses_the_fused_kernel_on_cpu_and_fused_rejects_bfloat16()
    {
        MixedBatch batch = MixedBatch.Random(2);
        (PolicyLossInputs inputs, _, _) = batch.ToInputs(ScalarType.Float32, false, false);
        Assert.True(FusedPolicyLoss.Supports(inputs, new PolicyLossOptions(), out _));
        Assert.False(FusedPolicyLoss.Supports(inputs, new PolicyLossOptions { Shaping = new CustomShaping() }, out string why));
        Assert.Contains("CustomShaping", why);
        (PolicyLossInputs bf, _, _) = batch.ToInputs(ScalarType.BFloat16, false, false);
        Assert.False(FusedPolicyLoss.Supports(bf, new PolicyLossOptions(), out _));
        var ex = Assert.Throws<NotSupportedException>(() => new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Fused }).Compute(bf));
        Assert.Contains("BFloat16", ex.Message);
        using PolicyLossResult composed = new MixedPolicyLoss().Compute(bf); // Auto falls back to composed ops
        Assert.True(double.IsFinite(Tensors.Scalar(composed.Loss)));
    }

    private sealed class CustomShaping : IShapingFunction
    {
        public string Name => "custom";

        public Tensor Apply(Tensor logProbs) => logProbs.exp();

        public Tensor DerivativeWithRespectToLogProb(Tensor logProbs) => logProbs.exp();

        public double Evaluate(double logProb) => Math.Exp(logProb);
    }

    [Fact]
    public void Backward_after_disposing_a_fused_result_still_gives_the_gradient()
    {
        MixedBatch batch = MixedBatch.Random(4);
        (PolicyLossInputs a, Tensor la, _) = batch.ToInputs(ScalarType.Float64, false, false);
        (PolicyLossInputs b, Tensor lb, _) = batch.ToInputs(ScalarType.Float64, false, false);
        PolicyLossResult early = new MixedPolicyLoss().Compute(a);
        Tensor loss = early.Loss.alias();
        early.Dispose();
        loss.backward();
        using PolicyLossResult normal = new MixedPolicyLoss().Compute(b);
        normal.Loss.backward();
        Assert.Equal(Tensors.ToArray(lb.grad!), Tensors.ToArray(la.grad!));
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void Repeated_backward_through_a_retained_graph_accumulates_the_true_gradient(LossKernel kernel)
    {
        // The fused backward hands its gradient buffer to autograd; clipping or an optimizer may then change .grad in
        // place, and a second backward through the same graph must still add the true gradient.
        MixedBatch batch = MixedBatch.Random(5);
        (PolicyLossInputs inputs, Tensor logProbs, _) = batch.ToInputs(ScalarType.Float64, false, false);
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
    public void Without_an_off_policy_mask_the_loss_is_plain_PPO()
    {
        MixedBatch batch = MixedBatch.Random(11);
        var allOn = new MixedBatch
        {
            LogProbs = batch.LogProbs, OldLogProbs = batch.OldLogProbs, Advantages = batch.Advantages, Mask = batch.Mask,
            OffPolicy = new bool[batch.B, batch.T], ReferenceLogProbs = batch.ReferenceLogProbs, Entropy = batch.Entropy,
        };
        var options = new PolicyLossOptions { DualClip = 3 };
        ReferenceLoss.Result expected = ReferenceLoss.Compute(allOn, options, false, false);
        (PolicyLossInputs inputs, Tensor logp, _) = batch.ToInputs(ScalarType.Float64, false, false);
        using PolicyLossResult result = new MixedPolicyLoss(options).Compute(new PolicyLossInputs
        {
            LogProbs = inputs.LogProbs, OldLogProbs = inputs.OldLogProbs, Advantages = inputs.Advantages, ResponseMask = inputs.ResponseMask,
        });
        result.Loss.backward();
        AssertClose.Scalar(expected.Loss, Tensors.Scalar(result.Loss), 1e-10, 1e-3);
        AssertClose.Matrix(expected.GradLogProbs, Tensors.ToMatrix(logp.grad!), 1e-10);
        Assert.Equal(0, result.Metrics.OffPolicyTokens);
        Assert.Equal(0.0, result.Metrics.OffPolicyLoss);
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

        Tensor logp = Tensors.From(lp, ScalarType.Float64, requiresGrad: true);
        using PolicyLossResult result = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun with { EntropyCoefficient = 0 }).Compute(new PolicyLossInputs
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

    [Fact]
    public void Luffy_main_run_preset_has_the_papers_settings()
    {
        PolicyLossOptions o = PolicyLossOptions.LuffyMainRun;
        Assert.False(o.ClipOnPolicyRatio);
        Assert.Equal(0.1, Assert.IsType<RegularizedShaping>(o.Shaping).Gamma);
        Assert.Equal(LossAggregation.SequenceMeanTokenSumNorm, o.Aggregation);
        Assert.Null(o.AggregationConstant);
        Assert.Equal(0.001, o.EntropyCoefficient);
        Assert.Equal(0.0, o.KlCoefficient);
        Assert.Null(o.DualClip);
    }

    [Fact]
    public void Shape_mismatch_names_both_shapes()
    {
        var loss = new MixedPolicyLoss();
        var ex = Assert.Throws<ArgumentException>(() => loss.Compute(new PolicyLossInputs
        {
            LogProbs = zeros(8, 511),
            OldLogProbs = zeros(8, 511),
            Advantages = zeros(8, 512),
            ResponseMask = ones(8, 511),
        }));
        Assert.Contains("Advantages has shape [8, 512] but LogProbs has shape [8, 511]", ex.Message);
        Assert.Contains("(B, T)", ex.Message);
    }

    [Fact]
    public void Broadcastable_but_different_shapes_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(new PolicyLossInputs
        {
            LogProbs = zeros(4, 6),
            OldLogProbs = zeros(4, 6),
            Advantages = zeros(4, 1),
            ResponseMask = ones(4, 6),
        }));
        Assert.Contains("[4, 1]", ex.Message);
    }

    [Fact]
    public void Dtype_mismatch_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(new PolicyLossInputs
        {
            LogProbs = zeros(2, 3),
            OldLogProbs = zeros(2, 3, dtype: ScalarType.Float64),
            Advantages = zeros(2, 3),
            ResponseMask = ones(2, 3),
        }));
        Assert.Contains("OldLogProbs has dtype Float64", ex.Message);
    }

    [Fact]
    public void Integer_log_probs_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(new PolicyLossInputs
        {
            LogProbs = zeros(2, 3, dtype: ScalarType.Int64),
            OldLogProbs = zeros(2, 3),
            Advantages = zeros(2, 3),
            ResponseMask = ones(2, 3),
        }));
        Assert.Contains("floating-point", ex.Message);
    }

    [Fact]
    public void Kl_coefficient_without_reference_log_probs_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(new PolicyLossOptions { KlCoefficient = 0.1 }).Compute(new PolicyLossInputs
        {
            LogProbs = zeros(2, 3), OldLogProbs = zeros(2, 3), Advantages = zeros(2, 3), ResponseMask = ones(2, 3),
        }));
        Assert.Contains("ReferenceLogProbs", ex.Message);
    }

    [Fact]
    public void Entropy_coefficient_without_entropy_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun).Compute(new PolicyLossInputs
        {
            LogProbs = zeros(2, 3), OldLogProbs = zeros(2, 3), Advantages = zeros(2, 3), ResponseMask = ones(2, 3),
        }));
        Assert.Contains("Entropy", ex.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-4.0)]
    [InlineData(double.NaN)]
    public void Non_positive_global_normalizer_is_rejected(double normalizer)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new MixedPolicyLoss().Compute(new PolicyLossInputs
        {
            LogProbs = zeros(2, 3), OldLogProbs = zeros(2, 3), Advantages = zeros(2, 3), ResponseMask = ones(2, 3), GlobalNormalizer = normalizer,
        }));
        Assert.Equal("GlobalNormalizer", ex.ParamName);
    }

    [Fact]
    public void Caller_tensors_survive_the_loss_and_its_disposal()
    {
        MixedBatch batch = MixedBatch.Random(3);
        (PolicyLossInputs inputs, Tensor logp, _) = batch.ToInputs(ScalarType.Float32, false, false);
        using (PolicyLossResult result = new MixedPolicyLoss().Compute(inputs))
        {
            result.Loss.backward();
        }
        Assert.False(logp.IsInvalid);
        Assert.False(inputs.OldLogProbs.IsInvalid);
        Assert.False(inputs.ResponseMask.IsInvalid);
        Assert.Equal(batch.B, logp.shape[0]);
    }

    [Fact]
    public void Extreme_log_probs_give_finite_loss_and_gradient()
    {
        double[,] lp = { { -100.0, -50.0, 0.0, -1e-9 } };
        Tensor logp = Tensors.From(lp, ScalarType.Float32, requiresGrad: true);
        using PolicyLossResult result = new MixedPolicyLoss().Compute(new PolicyLossInputs
        {
            LogProbs = logp,
            OldLogProbs = Tensors.From(new double[,] { { 0.0, -100.0, -100.0, 0.0 } }, ScalarType.Float32),
            Advantages = Tensors.From(new double[,] { { 1.0, -1.0, 2.0, -2.0 } }, ScalarType.Float32),
            ResponseMask = ones(1, 4),
            OffPolicyMask = Tensors.Mask(new bool[,] { { true, false, false, true } }),
        });
        result.Loss.backward();
        Assert.True(double.IsFinite(Tensors.Scalar(result.Loss)));
        Assert.All(Tensors.ToArray(logp.grad!), g => Assert.True(double.IsFinite(g)));
    }
}
