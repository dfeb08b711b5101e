using Luffy.Objectives.Internal;

namespace Luffy.Objectives.Tests.Losses;

/// <summary>
/// The loss against the independent double-precision reference (<see cref="ReferenceLoss"/>) for every option, both
/// kernels, float32 and float64; the other concerns of the same type are in the partial files beside this one.
/// </summary>
[Collection(GlobalRandomCollection.Name)]
public partial class MixedPolicyLossTests
{
    public sealed record Variant(string Name, PolicyLossOptions Options, Extras Extras = Extras.None)
    {
        public bool Fusable => Options.OnPolicy is ClippedSurrogate { Ratio: ExponentialRatio or LogRatio or RatioPlusLogRatio or SquareRootRatio or PowerRatio or RegularizedRatio };

        public override string ToString() => Name;
    }

    private static readonly PolicyLossOptions Luffy = PolicyLossOptions.LuffyMainRun;

    public static readonly Variant[] Variants =
    [
        new("default clipped PPO, gamma 0.1, token-mean", new PolicyLossOptions()),
        new("LUFFY main run", Luffy, Extras.Entropy),
        new("clip-higher, dual-clip 3, seq-mean-token-sum", new PolicyLossOptions { OnPolicy = new ClippedSurrogate { ClipHigh = 0.28, DualClip = 3 }, Aggregation = LossAggregation.SequenceMeanTokenSum }),
        new("unclipped, identity shaping, seq-mean-token-mean", new PolicyLossOptions { OnPolicy = ClippedSurrogate.Unclipped, Shaping = new IdentityShaping(), Aggregation = LossAggregation.SequenceMeanTokenMean }),
        new("power 2, sum-norm C=64", new PolicyLossOptions { Shaping = new PowerShaping(2), Aggregation = LossAggregation.SequenceMeanTokenSumNorm, AggregationConstant = 64 }),
        new("sqrt, max clamp 0.5, k1 KL", new PolicyLossOptions { Shaping = new SquareRootShaping(), OffPolicyMaxClamp = 0.5, KlCoefficient = 0.1, KlEstimator = KlEstimator.K1 }, Extras.Reference),
        new("log 0.5, clamps [-1.5, -0.05], abs KL", new PolicyLossOptions { Shaping = new LogShaping(0.5), OffPolicyMinClamp = -1.5, OffPolicyMaxClamp = -0.05, KlCoefficient = 0.2, KlEstimator = KlEstimator.Absolute }, Extras.Reference),
        new("identity+log 0.3, k2 KL, entropy", new PolicyLossOptions { Shaping = new IdentityPlusLogShaping(0.3), KlCoefficient = 0.05, KlEstimator = KlEstimator.K2, EntropyCoefficient = 0.01, Aggregation = LossAggregation.SequenceMeanTokenMean }, Extras.Reference | Extras.Entropy),
        new("gamma 0.5, clamps [0.1, 0.6], all-token metrics", new PolicyLossOptions { Shaping = new RegularizedShaping(0.5), OffPolicyMinClamp = 0.1, OffPolicyMaxClamp = 0.6, MetricScope = MetricScope.AllResponseTokens }),
        new("dual-clip 1.1 below 1+eps, k3 KL, entropy", new PolicyLossOptions { OnPolicy = new ClippedSurrogate { DualClip = 1.1 }, KlCoefficient = 0.1, EntropyCoefficient = 0.01 }, Extras.Reference | Extras.Entropy),
        new("unclipped with dual-clip 2, sum-norm C=T", new PolicyLossOptions { OnPolicy = ClippedSurrogate.Unclipped with { DualClip = 2 }, Aggregation = LossAggregation.SequenceMeanTokenSumNorm }),
        new("gamma 0.3, asymmetric clip, seq-mean-token-sum, k3", new PolicyLossOptions { Shaping = new RegularizedShaping(0.3), OnPolicy = new ClippedSurrogate { ClipLow = 0.1, ClipHigh = 0.3 }, Aggregation = LossAggregation.SequenceMeanTokenSum }, Extras.Reference),
        new("reshape p/(p+0.1), clip, dual 3", new PolicyLossOptions { OnPolicy = new ClippedSurrogate { Ratio = new RegularizedRatio(0.1), DualClip = 3 }, MetricScope = MetricScope.AllResponseTokens }),
        new("reshape p/(p+0.5), unclipped, LUFFY", Luffy with { OnPolicy = ClippedSurrogate.Unclipped with { Ratio = new RegularizedRatio(0.5) } }, Extras.Entropy),
        new("reshape log-ratio, clipped", new PolicyLossOptions { OnPolicy = new ClippedSurrogate { Ratio = new LogRatio() } }),
        new("reshape ratio+0.7 log-ratio, seq-mean-token-mean", new PolicyLossOptions { OnPolicy = new ClippedSurrogate { Ratio = new RatioPlusLogRatio(0.7) }, Aggregation = LossAggregation.SequenceMeanTokenMean }),
        new("reshape sqrt, clipped, TIS weights", new PolicyLossOptions { OnPolicy = new ClippedSurrogate { Ratio = new SquareRootRatio() } }, Extras.RolloutWeights),
        new("reshape pow 0.3, unclipped, dual 2", new PolicyLossOptions { OnPolicy = ClippedSurrogate.Unclipped with { Ratio = new PowerRatio(0.3), DualClip = 2 } }),
        new("all-max-clip 0.6, token-mean", new PolicyLossOptions { AllMaxClip = 0.6 }),
        new("all-max-clip 0.3, seq-mean-token-mean, entropy", new PolicyLossOptions { AllMaxClip = 0.3, Aggregation = LossAggregation.SequenceMeanTokenMean, EntropyCoefficient = 0.02 }, Extras.Entropy),
        new("trace probabilities, clamps [0.5, 3]", new PolicyLossOptions { OffPolicyMinClamp = 0.5, OffPolicyMaxClamp = 3 }, Extras.TraceProbabilities),
        new("ExGRPO replay: f(w) on stored log-probs, LUFFY main run", PolicyLossOptions.ExGrpo, Extras.TraceLogProbs | Extras.Entropy),
        new("ExGRPO warm-up, clipped, TIS weights", PolicyLossOptions.ExGrpoWarmUp, Extras.TraceLogProbs | Extras.Entropy | Extras.RolloutWeights),
        new("stored log-probs with sqrt shaping and clamps [0.2, 1.5]", new PolicyLossOptions { Shaping = new SquareRootShaping(), OffPolicyMinClamp = 0.2, OffPolicyMaxClamp = 1.5 }, Extras.TraceLogProbs),
        new("stored log-probs with identity+log 0.3, k3 KL", new PolicyLossOptions { Shaping = new IdentityPlusLogShaping(0.3), KlCoefficient = 0.1 }, Extras.TraceLogProbs | Extras.Reference),
        new("stored log-probs with log 0.5, clamps [-2, -0.1]", new PolicyLossOptions { Shaping = new LogShaping(0.5), OffPolicyMinClamp = -2, OffPolicyMaxClamp = -0.1 }, Extras.TraceLogProbs),
        new("SFT 0.5 on top of LUFFY", Luffy with { SftCoefficient = 0.5 }, Extras.Entropy),
        new("RL with SFT loss, token-mean", PolicyLossOptions.RlWithSftLoss(1.0, new PolicyLossOptions())),
        new("RL with SFT loss, seq-mean-token-mean, all-token metrics", PolicyLossOptions.RlWithSftLoss(0.3, new PolicyLossOptions { Aggregation = LossAggregation.SequenceMeanTokenMean, MetricScope = MetricScope.AllResponseTokens, EntropyCoefficient = 0.01 }), Extras.Entropy),
        new("TIS weights on LUFFY", Luffy, Extras.RolloutWeights | Extras.Entropy),
        new("everything fused at once", Luffy with
        {
            OnPolicy = new ClippedSurrogate { Ratio = new RegularizedRatio(0.1), DualClip = 2.5 },
            AllMaxClip = 0.8, SftCoefficient = 0.2, KlCoefficient = 0.05, OffPolicyMaxClamp = 2, OffPolicyMinClamp = 0.05,
        }, Extras.Reference | Extras.Entropy | Extras.TraceProbabilities | Extras.RolloutWeights),
        new("GSPO (verl preset)", PolicyLossOptions.Gspo),
        new("GSPO with wide clip and TIS weights", PolicyLossOptions.Gspo with { OnPolicy = new GroupSequenceSurrogate { ClipLow = 0.05, ClipHigh = 0.08 } }, Extras.RolloutWeights),
        new("SAPO (verl preset)", PolicyLossOptions.Sapo),
        new("SAPO with entropy and KL", PolicyLossOptions.Sapo with { OnPolicy = new SoftAdaptiveSurrogate { PositiveTemperature = 2, NegativeTemperature = 3 }, EntropyCoefficient = 0.01, KlCoefficient = 0.1 }, Extras.Reference | Extras.Entropy),
        new("GPG", new PolicyLossOptions { OnPolicy = new PolicyGradientObjective() }),
        new("GMPO (verl preset)", PolicyLossOptions.Gmpo),
        new("GMPO with TIS weights, narrow clip", PolicyLossOptions.Gmpo with { OnPolicy = new GeometricMeanSurrogate { ClipLow = 0.05, ClipHigh = 0.1 } }, Extras.RolloutWeights),
        new("CISPO", new PolicyLossOptions { OnPolicy = new ClippedImportanceWeightObjective() }),
        new("CISPO with TIS weights, seq-mean-token-sum", new PolicyLossOptions { OnPolicy = new ClippedImportanceWeightObjective { ClipHigh = 0.5 }, Aggregation = LossAggregation.SequenceMeanTokenSum }, Extras.RolloutWeights),
        new("GSPO on-policy with LUFFY shaping and SFT", Luffy with { OnPolicy = new GroupSequenceSurrogate { ClipLow = 0.02, ClipHigh = 0.03 }, Aggregation = LossAggregation.SequenceMeanTokenMean, AggregationConstant = null, SftCoefficient = 0.1, AllMaxClip = 0.9 }, Extras.Entropy),
    ];

    public static TheoryData<Variant, string, LossKernel> VariantsByDtype()
    {
        var data = new TheoryData<Variant, string, LossKernel>();
        foreach (Variant v in Variants)
        {
            foreach (LossKernel kernel in v.Fusable ? new[] { LossKernel.Fused, LossKernel.Composed } : new[] { LossKernel.Composed })
            {
                data.Add(v, "float32", kernel);
                data.Add(v, "float64", kernel);
            }
        }
        return data;
    }

    private static Variant[] FusableVariants => Variants.Where(v => v.Fusable).ToArray();

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
            MixedBatch batch = MixedBatch.Random(seed).RepresentableAs(type);
            ReferenceLoss.Result expected = ReferenceLoss.Compute(batch, variant.Options, variant.Extras);
            (PolicyLossInputs inputs, Tensor logp, Tensor entropy) = batch.ToInputs(type, variant.Extras);
            using PolicyLossResult result = loss.Compute(inputs);
            Assert.Equal(kernel, result.Kernel);
            result.Loss.backward();

            // float32: token terms of size O(1) are summed, so the rounding scales with the terms (floor 1), not the sum
            AssertClose.Scalar(expected.Loss, Tensors.Scalar(result.Loss), rtol, floor: 1.0, what: $"loss (seed {seed})");
            AssertClose.Matrix(expected.GradLogProbs, Tensors.ToMatrix(logp.grad!), rtol, $"dL/dlogp (seed {seed})");
            if (variant.Extras.HasFlag(Extras.Entropy) && variant.Options.EntropyCoefficient > 0)
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
        double rtol = Tensors.Tolerance(type);
        // the composed metrics are reduced on the host on the CPU, with TorchSharp ops on accelerators: both paths checked
        foreach (bool hostReductions in kernel == LossKernel.Composed ? new[] { true, false } : new[] { true })
        {
            foreach (int seed in new[] { 7, 8 })
            {
                MixedBatch batch = MixedBatch.Random(seed).RepresentableAs(type);
                ReferenceLoss.Result expected = ReferenceLoss.Compute(batch, variant.Options, variant.Extras);
                (PolicyLossInputs inputs, _, _) = batch.ToInputs(type, variant.Extras);
                using PolicyLossResult result = new MixedPolicyLoss(variant.Options with { Kernel = kernel }).Compute(inputs);
                MaskedReductions.DisabledOnThisThread = !hostReductions;
                try
                {
                    foreach ((string name, double value) in result.Metrics.ToNamedValues())
                    {
                        // means of O(1) terms: the tolerance floor is the terms' scale, as for the loss
                        AssertClose.Scalar(expected.Metric(name), value, rtol, 1.0, $"{name} (seed {seed}, {(hostReductions ? "host" : "tensor")} reductions)");
                    }
                }
                finally
                {
                    MaskedReductions.DisabledOnThisThread = false;
                }
            }
        }
    }

    [Property(MaxTest = 60)]
    public Property Fused_and_composed_kernels_agree_on_value_gradients_and_metrics() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(0, FusableVariants.Length - 1).ToArbitrary(), Gen.Elements(Enum.GetValues<LossAggregation>()).ToArbitrary(), (seed, v, mode) =>
        {
            Variant variant = FusableVariants[v];
            PolicyLossOptions options = Reaggregated(variant.Options, mode) with { MetricScope = seed % 2 == 0 ? MetricScope.OnPolicyTokens : MetricScope.AllResponseTokens };
            MixedBatch batch = MixedBatch.Random(seed, b: 7, t: 13);
            LossNormalizers? normalizers = seed % 3 == 0 ? new LossNormalizers(11.0, 13.0, 17.0) : null;
            (PolicyLossInputs fi, Tensor fl, Tensor fe) = batch.ToInputs(ScalarType.Float64, variant.Extras, normalizers);
            (PolicyLossInputs ci, Tensor cl, Tensor ce) = batch.ToInputs(ScalarType.Float64, variant.Extras, normalizers);
            using PolicyLossResult fused = new MixedPolicyLoss(options with { Kernel = LossKernel.Fused }).Compute(fi);
            using PolicyLossResult composed = new MixedPolicyLoss(options with { Kernel = LossKernel.Composed }).Compute(ci);
            fused.Loss.backward();
            composed.Loss.backward();
            // The loss and the metrics are means of O(1) token terms that can cancel to near zero (on_pg_loss of
            // -1e-5 from terms of size 1 with seed 860462); the two kernels sum in different orders, so the
            // tolerance floor is the terms' scale (1), not the mean's.
            AssertClose.Scalar(Tensors.Scalar(composed.Loss), Tensors.Scalar(fused.Loss), 1e-12, 1.0, "loss");
            AssertClose.Array(Tensors.ToArray(cl.grad!), Tensors.ToArray(fl.grad!), 1e-12, "dL/dlogp");
            if (variant.Extras.HasFlag(Extras.Entropy) && options.EntropyCoefficient > 0)
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

    [Property(MaxTest = 120)]
    public Property Float32_fused_kernel_matches_the_double_reference_for_any_length_and_simd_width() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(0, FusableVariants.Length - 1).ToArbitrary(), (from t in Gen.Choose(1, 41) from lanes in Gen.Elements(16, 8, 1) select (t, lanes)).ToArbitrary(), (seed, v, shape) =>
        {
            (int t, int lanes) = shape;
            // lengths that are not multiples of the SIMD width exercise the 16- and 8-lane bodies and the scalar
            // tail; capping the width checks the narrower paths on hardware that would pick a wider one
            Variant variant = FusableVariants[v];
            MixedBatch batch = MixedBatch.Random(seed, b: 5, t: t);
            ReferenceLoss.Result expected = ReferenceLoss.Compute(batch, variant.Options, variant.Extras);
            (PolicyLossInputs inputs, Tensor logp, _) = batch.ToInputs(ScalarType.Float32, variant.Extras);
            PolicyLossResult result = LaneWidth.With(lanes, () => new MixedPolicyLoss(variant.Options with { Kernel = LossKernel.Fused }).Compute(inputs));
            using PolicyLossResult disposeResult = result;
            result.Loss.backward();
            // sums of O(1) token terms can cancel to near zero; float32 rounding scales with the terms, so the
            // tolerance floor is the terms' scale (1), not the sum's
            AssertClose.Scalar(expected.Loss, Tensors.Scalar(result.Loss), 1e-5, 1.0, "loss");
            AssertClose.Matrix(expected.GradLogProbs, Tensors.ToMatrix(logp.grad!), 1e-5, "dL/dlogp");
            foreach ((string name, double value) in result.Metrics.ToNamedValues())
            {
                AssertClose.Scalar(expected.Metric(name), value, 1e-5, 1.0, name);
            }
            return true;
        });

    [Fact]
    public void Each_option_the_kernel_compiles_out_is_set_in_some_fused_variants_and_not_in_others()
    {
        // the property below then compares bodies without each option's code against the one with every option's code
        Func<Variant, bool>[] options =
        [
            v => v.Options.OnPolicy is not ClippedSurrogate { Ratio: ExponentialRatio },
            v => v.Options.OnPolicy is ClippedSurrogate { Ratio: RegularizedRatio },
            v => v.Extras.HasFlag(Extras.RolloutWeights),
            v => v.Options.AllMaxClip is not null,
            v => v.Extras.HasFlag(Extras.TraceProbabilities) || v.Extras.HasFlag(Extras.TraceLogProbs),
            v => v.Options.Shaping is IBuiltInShaping { Formula: var f } && (f.Exponent != 1 || f.LogWeight != 0),
        ];
        foreach (Func<Variant, bool> set in options)
        {
            Assert.Contains(FusableVariants, v => set(v));
            Assert.Contains(FusableVariants, v => !set(v));
        }
    }

    [Property(MaxTest = 80)]
    public Property Bodies_without_the_code_of_unset_options_give_the_general_body_s_bits() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(0, FusableVariants.Length - 1).ToArbitrary(), (from t in Gen.Choose(1, 70) from lanes in Gen.Elements(16, 8) select (t, lanes)).ToArbitrary(), (seed, v, shape) =>
        {
            // The same float32 operations in the same order: only the code of options a variant does not set is left out,
            // so loss, gradient and metrics agree exactly (with any clip bounds, metric scope and off-policy rows).
            (int t, int lanes) = shape;
            Variant variant = FusableVariants[v];
            PolicyLossOptions options = variant.Options with { MetricScope = seed % 2 == 0 ? MetricScope.OnPolicyTokens : MetricScope.AllResponseTokens };
            MixedBatch batch = MixedBatch.Random(seed, b: 6, t: t);
            (PolicyLossInputs si, Tensor sl, _) = batch.ToInputs(ScalarType.Float32, variant.Extras);
            (PolicyLossInputs gi, Tensor gl, _) = batch.ToInputs(ScalarType.Float32, variant.Extras);
            var loss = new MixedPolicyLoss(options with { Kernel = LossKernel.Fused });
            using PolicyLossResult specialized = LaneWidth.With(lanes, () => loss.Compute(si));
            using PolicyLossResult general = LaneWidth.With(lanes, () => KernelBody.General(() => loss.Compute(gi)));
            specialized.Loss.backward();
            general.Loss.backward();
            Assert.Equal(Tensors.Scalar(general.Loss), Tensors.Scalar(specialized.Loss));
            Assert.Equal(Tensors.ToArray(gl.grad!), Tensors.ToArray(sl.grad!));
            Assert.Equal(general.Metrics.ToNamedValues(), specialized.Metrics.ToNamedValues());
            return true;
        });

    [Property(MaxTest = 40)]
    public Property Masked_positions_get_exactly_zero_gradient() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(0, 2 * Variants.Length - 1).ToArbitrary(), (seed, v) =>
        {
            Variant variant = Variants[v / 2];
            LossKernel kernel = v % 2 == 0 && variant.Fusable ? LossKernel.Fused : LossKernel.Composed;
            MixedBatch batch = MixedBatch.Random(seed, b: 6, t: 10);
            (PolicyLossInputs inputs, Tensor logp, Tensor entropy) = batch.ToInputs(ScalarType.Float64, variant.Extras);
            using PolicyLossResult result = new MixedPolicyLoss(variant.Options with { Kernel = kernel }).Compute(inputs);
            result.Loss.backward();
            double[,] g = Tensors.ToMatrix(logp.grad!);
            double[,]? h = entropy.grad is null ? null : Tensors.ToMatrix(entropy.grad);
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

    /// <summary>
    /// A variant under another aggregation, for the properties that hold for every combination: sequence-level objectives
    /// are opted in explicitly, and the sum-norm constant kept only where it is used.
    /// </summary>
    private static PolicyLossOptions Reaggregated(PolicyLossOptions options, LossAggregation mode, double? constant = null) => options with
    {
        Aggregation = mode,
        AggregationConstant = mode == LossAggregation.SequenceMeanTokenSumNorm ? constant ?? options.AggregationConstant : null,
        AllowAggregationMismatch = true,
    };

    [Property(MaxTest = 60)]
    public Property Micro_batch_losses_with_the_batch_normalizers_sum_to_the_full_batch_loss() =>
        Prop.ForAll(
            Gen.Choose(0, 1_000_000).ToArbitrary(),
            Gen.Choose(1, 7).ToArbitrary(),
            (from mode in Gen.Elements(Modes.ToArray()) from v in Gen.Choose(0, Variants.Length - 1) select (mode, v)).ToArbitrary(),
            (seed, split, choice) =>
            {
                Variant variant = Variants[choice.v];
                // all-max-clip removes tokens only known after the forward pass, so its normalizer is not a batch count
                PolicyLossOptions options = Reaggregated(variant.Options, choice.mode) with { AllMaxClip = null, EntropyCoefficient = 0.01, KlCoefficient = 0.1 };
                Extras extras = variant.Extras | Extras.Reference | Extras.Entropy;
                var loss = new MixedPolicyLoss(options);
                MixedBatch batch = MixedBatch.Random(seed, b: 8, t: 12);
                LossNormalizers normalizers = LossNormalizers.FromMasks(options, Tensors.Mask(batch.Mask), Tensors.Mask(batch.OffPolicy));
                (PolicyLossInputs full, Tensor fullLogp, Tensor fullEntropy) = batch.ToInputs(ScalarType.Float64, extras);
                using PolicyLossResult fullResult = loss.Compute(full);
                fullResult.Loss.backward();

                double sum = 0;
                var grads = new List<double>();
                var entropyGrads = new List<double>();
                var metrics = new List<PolicyLossMetrics>();
                foreach ((int start, int count) in new[] { (0, split), (split, 8 - split) })
                {
                    (PolicyLossInputs part, Tensor logp, Tensor entropy) = batch.Rows(start, count).ToInputs(ScalarType.Float64, extras, normalizers);
                    using PolicyLossResult r = loss.Compute(part);
                    r.Loss.backward();
                    sum += Tensors.Scalar(r.Loss);
                    grads.AddRange(Tensors.ToArray(logp.grad!));
                    entropyGrads.AddRange(Tensors.ToArray(entropy.grad!));
                    metrics.Add(r.Metrics);
                }
                double fullValue = Tensors.Scalar(fullResult.Loss);
                AssertClose.Scalar(fullValue, sum, 1e-12, 1.0, "sum of micro-batch losses");
                AssertClose.Array(Tensors.ToArray(fullLogp.grad!), grads.ToArray(), 1e-12, "dL/dlogp");
                AssertClose.Array(Tensors.ToArray(fullEntropy.grad!), entropyGrads.ToArray(), 1e-12, "dL/dH");
                var combined = PolicyLossMetrics.Combine(metrics).ToNamedValues();
                var whole = fullResult.Metrics.ToNamedValues();
                for (int k = 0; k < whole.Count; k++)
                {
                    AssertClose.Scalar(whole[k].Value, combined[k].Value, 1e-12, 1.0, "combined " + whole[k].Key);
                }
                return true;
            });

    [Property(MaxTest = 40)]
    public Property Adding_padded_columns_changes_nothing() =>
        Prop.ForAll(
            Gen.Choose(0, 1_000_000).ToArbitrary(),
            Gen.Choose(1, 9).ToArbitrary(),
            (from mode in Gen.Elements(Modes.ToArray()) from v in Gen.Choose(0, Variants.Length - 1) select (mode, v)).ToArbitrary(),
            (seed, extra, choice) =>
            {
                // Sum-norm divides by C; with C = T by default, padding changes T, so C is fixed here.
                Variant variant = Variants[choice.v];
                PolicyLossOptions options = Reaggregated(variant.Options, choice.mode, constant: 50) with { KlCoefficient = 0.1, EntropyCoefficient = 0.01 };
                Extras extras = variant.Extras | Extras.Reference | Extras.Entropy;
                var loss = new MixedPolicyLoss(options);
                MixedBatch batch = MixedBatch.Random(seed, b: 6, t: 10);
                MixedBatch padded = batch.PadColumns(extra, seed + 1);
                (PolicyLossInputs a, Tensor logpA, _) = batch.ToInputs(ScalarType.Float64, extras);
                (PolicyLossInputs b, Tensor logpB, _) = padded.ToInputs(ScalarType.Float64, extras);
                using PolicyLossResult ra = loss.Compute(a);
                using PolicyLossResult rb = loss.Compute(b);
                ra.Loss.backward();
                rb.Loss.backward();
                AssertClose.Scalar(Tensors.Scalar(ra.Loss), Tensors.Scalar(rb.Loss), 1e-12, 1.0, "loss");
                var metricsA = ra.Metrics.ToNamedValues();
                var metricsB = rb.Metrics.ToNamedValues();
                for (int k = 0; k < metricsA.Count; k++)
                {
                    AssertClose.Scalar(metricsA[k].Value, metricsB[k].Value, 1e-12, 1.0, metricsA[k].Key);
                }
                Tensor gradPrefix = logpB.grad!.narrow(1, 0, batch.T);
                AssertClose.Array(Tensors.ToArray(logpA.grad!), Tensors.ToArray(gradPrefix), 1e-12, "dL/dlogp");
                return true;
            });
}
