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
        var ex = Assert.Throws<ArgumentException>(() => new MixedPolicyLoss().Compute(inputs));
        Assert.Contains("Advantages has been disposed", ex.Message);
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
}
