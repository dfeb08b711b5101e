namespace Luffy.Objectives.Tests.Losses;

/// <summary>Bad inputs: each gets an error that names the value and what was expected.</summary>
public partial class MixedPolicyLossTests
{
    private static PolicyLossInputs Plain(long b = 2, long t = 3) => new()
    {
        LogProbs = zeros(b, t), OldLogProbs = zeros(b, t), Advantages = zeros(b, t), ResponseMask = ones(b, t, dtype: ScalarType.Bool),
    };

    [Fact]
    public void Shape_mismatch_names_both_shapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(new PolicyLossInputs
        {
            LogProbs = zeros(8, 511), OldLogProbs = zeros(8, 511), Advantages = zeros(8, 512), ResponseMask = ones(8, 511, dtype: ScalarType.Bool),
        }));
        Assert.Contains("Advantages has shape [8, 512] but LogProbs has shape [8, 511]", ex.Message);
        Assert.Contains("(B, T)", ex.Message);
    }

    [Fact]
    public void Broadcastable_but_different_shapes_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain(4, 6) with { Advantages = zeros(4, 1) }));
        Assert.Contains("[4, 1]", ex.Message);
    }

    [Fact]
    public void Dtype_mismatch_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain() with { OldLogProbs = zeros(2, 3, dtype: ScalarType.Float64) }));
        Assert.Contains("OldLogProbs has dtype Float64", ex.Message);
    }

    [Fact]
    public void Integer_log_probs_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain() with { LogProbs = zeros(2, 3, dtype: ScalarType.Int64) }));
        Assert.Contains("floating-point", ex.Message);
    }

    [Theory]
    [InlineData(0, 5)]
    [InlineData(3, 0)]
    public void An_empty_batch_is_rejected(long b, long t)
    {
        // T = 0 used to give NaN (composed, 0/0 under token-sum-norm with C = T) or 0 (fused)
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun with { EntropyCoefficient = 0 }).Compute(Plain(b, t)));
        Assert.Contains($"[{b}, {t}]", ex.Message);
        Assert.Contains("at least one sequence and one response column", ex.Message);
    }

    [Theory]
    [InlineData("ResponseMask")]
    [InlineData("OffPolicyMask")]
    public void A_floating_point_mask_is_rejected(string which)
    {
        // a float mask value 0.5 or NaN used to count as set, silently
        Tensor floatMask = full(2, 3, 0.5);
        PolicyLossInputs inputs = which == "ResponseMask" ? Plain() with { ResponseMask = floatMask } : Plain() with { OffPolicyMask = floatMask };
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(inputs));
        Assert.Contains($"{which} has dtype Float32", ex.Message);
        Assert.Contains("bool or an integer dtype", ex.Message);
    }

    [Fact]
    public void Integer_masks_count_non_zero_as_set()
    {
        MixedBatch batch = MixedBatch.Random(9);
        (PolicyLossInputs inputs, _, _) = batch.ToInputs(ScalarType.Float64, Extras.None);
        using PolicyLossResult expected = new MixedPolicyLoss().Compute(inputs);
        using PolicyLossResult integer = new MixedPolicyLoss().Compute(inputs with
        {
            ResponseMask = inputs.ResponseMask.to_type(ScalarType.Int64) * 3, OffPolicyMask = inputs.OffPolicyMask!.to_type(ScalarType.Int32),
        });
        Assert.Equal(Tensors.Scalar(expected.Loss), Tensors.Scalar(integer.Loss));
    }

    [Fact]
    public void Kl_coefficient_without_reference_log_probs_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(new PolicyLossOptions { KlCoefficient = 0.1 }).Compute(Plain()));
        Assert.Contains("ReferenceLogProbs", ex.Message);
    }

    [Fact]
    public void Entropy_coefficient_without_entropy_is_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun).Compute(Plain()));
        Assert.Contains("Entropy", ex.Message);
    }

    [Fact]
    public void Trace_probabilities_of_another_shape_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain() with { TraceProbabilities = ones(2, 4) }));
        Assert.Contains("TraceProbabilities has shape [2, 4]", ex.Message);
    }

    [Fact]
    public void Trace_log_probs_of_another_shape_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain() with { OffPolicyMask = ones(2, 3, dtype: ScalarType.Bool), TraceLogProbs = zeros(3, 3) }));
        Assert.Contains("TraceLogProbs has shape [3, 3]", ex.Message);
    }

    [Fact]
    public void Trace_log_probs_together_with_trace_probabilities_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain() with
        {
            OffPolicyMask = ones(2, 3, dtype: ScalarType.Bool), TraceLogProbs = zeros(2, 3), TraceProbabilities = ones(2, 3),
        }));
        Assert.Contains("Both TraceProbabilities and TraceLogProbs are given", ex.Message);
    }

    [Fact]
    public void Trace_log_probs_without_an_off_policy_mask_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain() with { TraceLogProbs = zeros(2, 3) }));
        Assert.Contains("TraceLogProbs is given but OffPolicyMask is null", ex.Message);
    }

    [Fact]
    public void Rollout_weights_of_another_dtype_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain() with { RolloutWeights = ones(2, 3, dtype: ScalarType.Float64) }));
        Assert.Contains("RolloutWeights has dtype Float64", ex.Message);
    }

    [Fact]
    public void A_disposed_input_is_named()
    {
        PolicyLossInputs inputs = Plain();
        inputs.Advantages.Dispose();
        var ex = Assert.Throws<ObjectDisposedException>(() => new MixedPolicyLoss().Compute(inputs));
        Assert.Contains("Advantages has been disposed", ex.Message);
        Assert.Equal("Advantages", ex.ObjectName);
    }

    [Fact]
    public void A_custom_objective_returning_the_wrong_shape_is_named()
    {
        var options = new PolicyLossOptions { OnPolicy = new WrongShapeObjective() };
        var ex = Assert.Throws<InvalidOperationException>(() => new MixedPolicyLoss(options).Compute(Plain()));
        Assert.Contains("wrong-shape returned token losses of shape [2, 2]", ex.Message);
    }

    private sealed class WrongShapeObjective : IOnPolicyObjective
    {
        public string Name => "wrong-shape";

        public OnPolicyTerms Compute(OnPolicyContext context) => new(context.LogProbs.narrow(1, 0, 2).contiguous());
    }

    public static TheoryData<LossKernel, string> KernelsAndBadValues() => new()
    {
        { LossKernel.Fused, "trace probability -1e-6" },
        { LossKernel.Composed, "trace probability -1e-6" },
        { LossKernel.Fused, "trace probability 1.5" },
        { LossKernel.Composed, "trace probability 1.5" },
        { LossKernel.Fused, "rollout weight -0.5" },
        { LossKernel.Composed, "rollout weight -0.5" },
        { LossKernel.Fused, "stored log-prob 0.25" },
        { LossKernel.Composed, "stored log-prob 0.25" },
        { LossKernel.Fused, "stored log-prob NaN" },
        { LossKernel.Composed, "stored log-prob NaN" },
    };

    [Theory]
    [MemberData(nameof(KernelsAndBadValues))]
    public void An_invalid_trace_probability_stored_log_prob_or_rollout_weight_makes_its_token_NaN(LossKernel kernel, string bad)
    {
        // −1e-6 gave p/(q + 1e-6) = p/0, a loss of −7.9e12; q > 1 and negative weights were used as they were
        Tensor logp = full(2, 3, -0.5).requires_grad_();
        Tensor off = tensor(new[,] { { true, true, false }, { false, false, false } });
        Tensor q = full(2, 3, 0.5);
        Tensor weights = ones(2, 3);
        Tensor stored = full(2, 3, -1.0);
        double value = double.Parse(bad.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture);
        (bad.StartsWith("trace") ? q : bad.StartsWith("stored") ? stored : weights)[0, 1] = value;
        var inputs = new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = full(2, 3, -0.5), Advantages = ones(2, 3), ResponseMask = ones(2, 3, dtype: ScalarType.Bool),
            OffPolicyMask = off, TraceProbabilities = bad.StartsWith("stored") ? null : q, RolloutWeights = bad.StartsWith("rollout") ? weights : null,
            TraceLogProbs = bad.StartsWith("stored") ? stored : null,
        };
        using PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel }).Compute(inputs);
        Assert.True(double.IsNaN(result.Loss.to_type(ScalarType.Float64).item<double>()), $"{bad}: the loss is {result.Loss.item<float>()}");
        result.Loss.backward();
        double[] grad = Tensors.ToArray(logp.grad!);
        Assert.True(double.IsNaN(grad[1]), $"{bad}: the gradient at the token is {grad[1]}");
        Assert.All(grad.Where((_, i) => i != 1), g => Assert.True(double.IsFinite(g)));
    }

    [Fact]
    public void A_shaping_with_trace_probabilities_is_rejected()
    {
        // the ratio is then p/(q + 1e-6) and the shaping is skipped (the reference's target_probs path): a log shaping,
        // or a max clamp of -1 that makes sense for it, silently did nothing or clamped every token
        var options = new PolicyLossOptions { Shaping = new LogShaping(1), OffPolicyMaxClamp = -1 };
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(options).Compute(Plain() with { OffPolicyMask = ones(2, 3, dtype: ScalarType.Bool), TraceProbabilities = full(2, 3, 0.5) }));
        Assert.Contains("Shaping is log(w=1) but TraceProbabilities are given", ex.Message);
    }

    public static TheoryData<string> WrongShapes() => ["(1)", "(B, T + 1)", "float64", "null"];

    [Theory]
    [MemberData(nameof(WrongShapes))]
    public void A_custom_shaping_function_returning_a_non_elementwise_result_is_named(string shape)
    {
        var options = new PolicyLossOptions { Shaping = new WrongShaping(shape) };
        PolicyLossInputs inputs = Plain() with { OffPolicyMask = ones(2, 3, dtype: ScalarType.Bool) };
        var ex = Assert.Throws<InvalidOperationException>(() => new MixedPolicyLoss(options).Compute(inputs));
        Assert.Contains("The shaping function WrongShaping (wrong)", ex.Message);
        Assert.Contains("[2, 3]", ex.Message);
    }

    [Theory]
    [MemberData(nameof(WrongShapes))]
    public void A_custom_ratio_reshaping_returning_a_non_elementwise_result_is_named(string shape)
    {
        var options = new PolicyLossOptions { OnPolicy = new ClippedSurrogate { Ratio = new WrongRatio(shape) } };
        var ex = Assert.Throws<InvalidOperationException>(() => new MixedPolicyLoss(options).Compute(Plain()));
        Assert.Contains("The ratio reshaping WrongRatio (wrong)", ex.Message);
    }

    private static Tensor Wrong(string shape, Tensor input) => shape switch
    {
        "(1)" => ones(1),
        "(B, T + 1)" => ones(input.shape[0], input.shape[1] + 1),
        "float64" => input.to_type(ScalarType.Float64),
        _ => null!,
    };

    private sealed class WrongShaping(string shape) : IShapingFunction
    {
        public string Name => "wrong";

        public Tensor Apply(Tensor logProbs) => Wrong(shape, logProbs);

        public Tensor DerivativeWithRespectToLogProb(Tensor logProbs) => logProbs.exp();

        public double Evaluate(double logProb) => Math.Exp(logProb);
    }

    private sealed class WrongRatio(string shape) : IRatioReshaping
    {
        public string Name => "wrong";

        public Tensor Apply(Tensor logProbs, Tensor oldLogProbs) => Wrong(shape, logProbs);

        public double Evaluate(double logProb, double oldLogProb) => 1;
    }

    [Fact]
    public void Loss_inputs_on_the_meta_device_are_named()
    {
        // libtorch's "aten::logical_and.out ... Meta tensors" before
        var meta = new Device(DeviceType.META);
        PolicyLossInputs inputs = new()
        {
            LogProbs = empty(2, 3, device: meta), OldLogProbs = empty(2, 3, device: meta), Advantages = empty(2, 3, device: meta),
            ResponseMask = empty(2, 3, dtype: ScalarType.Bool, device: meta),
        };
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(inputs));
        Assert.Contains("LogProbs is on the meta device", ex.Message);
    }

    [Fact]
    public void Sparse_log_probs_are_named()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(Plain() with { LogProbs = zeros(2, 3).to_sparse() }));
        Assert.Contains("LogProbs is a sparse tensor", ex.Message);
    }

    [Theory]
    [InlineData("sft")]
    [InlineData("rl-with-sft")]
    public void An_sft_term_without_an_off_policy_mask_is_rejected(string which)
    {
        // the SFT term covers trace-carrying sequences: without the mask it trained plain GRPO, silently
        PolicyLossOptions options = which == "sft" ? new PolicyLossOptions { SftCoefficient = 0.5 } : PolicyLossOptions.RlWithSftLoss() with { EntropyCoefficient = 0 };
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(options).Compute(Plain()));
        Assert.Contains("OffPolicyMask is null", ex.Message);
    }

    [Fact]
    public void The_entropy_requirement_of_the_main_run_presets_is_explained()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss(PolicyLossOptions.RlWithSftLoss()).Compute(Plain() with { OffPolicyMask = zeros(2, 3, dtype: ScalarType.Bool) }));
        Assert.Contains("RlWithSftLoss built on it, include LUFFY's entropy bonus", ex.Message);
    }

    [Theory]
    [InlineData(LossKernel.Composed, false)]
    [InlineData(LossKernel.Composed, true)]
    public void Rollout_weights_reach_a_custom_objective_that_does_not_apply_them(LossKernel kernel, bool customAppliesThem)
    {
        // a custom objective had to multiply the weights itself, and nothing noticed when it did not
        MixedBatch batch = MixedBatch.Random(8);
        (PolicyLossInputs inputs, Tensor logp, _) = batch.ToInputs(ScalarType.Float64, Extras.RolloutWeights);
        using PolicyLossResult builtIn = new MixedPolicyLoss(new PolicyLossOptions { OnPolicy = new PolicyGradientObjective(), Kernel = kernel }).Compute(inputs);
        builtIn.Loss.backward();
        double[] expected = Tensors.ToArray(logp.grad!);
        logp.grad = null;
        using PolicyLossResult custom = new MixedPolicyLoss(new PolicyLossOptions { OnPolicy = new PlainPolicyGradient(customAppliesThem), Kernel = kernel }).Compute(inputs);
        custom.Loss.backward();
        AssertClose.Scalar(Tensors.Scalar(builtIn.Loss), Tensors.Scalar(custom.Loss), 1e-12);
        AssertClose.Array(expected, Tensors.ToArray(logp.grad!), 1e-12);
    }

    /// <summary>−A·log p, as a user outside the assembly writes it: applying the weights only when it says so.</summary>
    private sealed class PlainPolicyGradient(bool appliesWeights) : IOnPolicyObjective
    {
        public string Name => "plain-pg";

        public bool AppliesRolloutWeights => appliesWeights;

        public OnPolicyTerms Compute(OnPolicyContext context)
        {
            Tensor value = -context.LogProbs * context.Advantages;
            return new OnPolicyTerms(appliesWeights && context.RolloutWeights is { } w ? value * w : value);
        }
    }
}
