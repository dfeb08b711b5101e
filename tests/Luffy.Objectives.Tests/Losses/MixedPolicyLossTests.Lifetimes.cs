namespace Luffy.Objectives.Tests.Losses;

/// <summary>
/// Disposal and backward in any order: the graph keeps what the fused backward needs, like the composed ops' graph,
/// and anything autograd would refuse is a catchable error, never a process abort.
/// </summary>
public partial class MixedPolicyLossTests
{
    private static PolicyLossOptions EntropyOptions(LossKernel kernel) => new() { Kernel = kernel, EntropyCoefficient = 0.01, KlCoefficient = 0.1 };

    /// <summary>The gradients of one plain compute-backward-dispose step, for comparison.</summary>
    private static (double[] LogProbs, double[] Entropy) PlainGradients(MixedBatch batch, PolicyLossOptions options, bool logProbsRequireGrad)
    {
        (PolicyLossInputs inputs, Tensor logp, Tensor entropy) = batch.ToInputs(ScalarType.Float64, Extras.Entropy | Extras.Reference);
        logp.requires_grad_(logProbsRequireGrad);
        using (PolicyLossResult result = new MixedPolicyLoss(options).Compute(inputs))
        {
            result.Loss.backward();
        }
        return (logProbsRequireGrad ? Tensors.ToArray(logp.grad!) : [], Tensors.ToArray(entropy.grad!));
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void Metrics_read_after_backward_and_after_the_inputs_are_disposed_equal_metrics_read_at_once(LossKernel kernel)
    {
        // the composed kernel reduces its metrics when they are first read, from what the step kept: neither backward
        // nor the caller disposing its input tensors may change them
        MixedBatch batch = MixedBatch.Random(6);
        PolicyLossOptions options = EntropyOptions(kernel) with { OffPolicyMaxClamp = 0.8, OffPolicyMinClamp = 0.05, MetricScope = MetricScope.AllResponseTokens };
        (PolicyLossInputs first, _, _) = batch.ToInputs(ScalarType.Float64, Extras.Entropy | Extras.Reference);
        using PolicyLossResult atOnce = new MixedPolicyLoss(options).Compute(first);
        var expected = atOnce.Metrics.ToNamedValues().ToArray();
        (PolicyLossInputs second, _, _) = batch.ToInputs(ScalarType.Float64, Extras.Entropy | Extras.Reference);
        using PolicyLossResult later = new MixedPolicyLoss(options).Compute(second);
        later.Loss.backward();
        foreach (Tensor t in new[] { second.LogProbs, second.OldLogProbs, second.Advantages, second.ResponseMask, second.OffPolicyMask!, second.ReferenceLogProbs!, second.Entropy! })
        {
            t.Dispose();
        }
        Assert.Equal(expected, later.Metrics.ToNamedValues().ToArray());
        Assert.Same(later.Metrics, later.Metrics); // read once, then cached
    }

    [Fact]
    public void Metrics_of_a_result_disposed_before_they_were_read_are_an_object_disposed_error()
    {
        (PolicyLossInputs inputs, _, _) = MixedBatch.Random(6).ToInputs(ScalarType.Float64, Extras.None);
        PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Composed }).Compute(inputs);
        result.Dispose();
        Assert.Throws<ObjectDisposedException>(() => result.Metrics);
    }

    [Theory]
    [InlineData(LossKernel.Fused, false)]
    [InlineData(LossKernel.Fused, true)]
    [InlineData(LossKernel.Composed, false)]
    public void A_result_disposed_before_backward_still_differentiates(LossKernel kernel, bool logProbsRequireGrad)
    {
        // the entropy bonus alone may require grad (frozen log-probs): the fused state used to free its buffers at
        // Dispose because the log-probs did not require grad, and backward aborted the process
        MixedBatch batch = MixedBatch.Random(4);
        PolicyLossOptions options = EntropyOptions(kernel);
        (double[] expectedLogp, double[] expectedEntropy) = PlainGradients(batch, options with { Kernel = LossKernel.Composed }, logProbsRequireGrad);
        (PolicyLossInputs inputs, Tensor logp, Tensor entropy) = batch.ToInputs(ScalarType.Float64, Extras.Entropy | Extras.Reference);
        logp.requires_grad_(logProbsRequireGrad);
        PolicyLossResult result = new MixedPolicyLoss(options).Compute(inputs);
        Tensor loss = result.Loss * 1;
        result.Dispose();
        loss.backward();
        AssertClose.Array(expectedEntropy, Tensors.ToArray(entropy.grad!), 1e-12, "entropy gradient");
        if (logProbsRequireGrad)
        {
            AssertClose.Array(expectedLogp, Tensors.ToArray(logp.grad!), 1e-12, "log-prob gradient");
        }
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void A_retained_graph_differentiates_again_after_the_result_is_disposed(LossKernel kernel)
    {
        // backward(retain_graph), Dispose, backward: the fused backward used to rerun the kernel on freed tensors (abort)
        MixedBatch batch = MixedBatch.Random(6);
        PolicyLossOptions options = EntropyOptions(kernel);
        (double[] expectedLogp, double[] expectedEntropy) = PlainGradients(batch, options with { Kernel = LossKernel.Composed }, true);
        (PolicyLossInputs inputs, Tensor logp, Tensor entropy) = batch.ToInputs(ScalarType.Float64, Extras.Entropy | Extras.Reference);
        PolicyLossResult result = new MixedPolicyLoss(options).Compute(inputs);
        Tensor loss = result.Loss * 1;
        loss.backward(retain_graph: true);
        result.Dispose();
        loss.backward(retain_graph: true);
        loss.backward();
        AssertClose.Array(expectedLogp.Select(g => 3 * g).ToArray(), Tensors.ToArray(logp.grad!), 1e-12, "log-prob gradient");
        AssertClose.Array(expectedEntropy.Select(g => 3 * g).ToArray(), Tensors.ToArray(entropy.grad!), 1e-12, "entropy gradient");
        var error = Assert.ThrowsAny<Exception>(() => loss.backward());
        Assert.Contains("second time", error.Message);
    }

    [Theory]
    [InlineData(LossKernel.Fused, false)]
    [InlineData(LossKernel.Fused, true)]
    public void Inputs_modified_in_place_before_a_fused_backward_are_a_catchable_error(LossKernel kernel, bool disposeFirst)
    {
        // the fused backward may recompute from its saved inputs (after Dispose, or through a retained graph): a changed
        // input would give the gradient of other data, so its version check refuses it; the composed ops keep what they
        // need themselves
        MixedBatch batch = MixedBatch.Random(3);
        (PolicyLossInputs inputs, _, _) = batch.ToInputs(ScalarType.Float32, Extras.Entropy);
        PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel, EntropyCoefficient = 0.01 }).Compute(inputs);
        Tensor loss = result.Loss * 1;
        if (disposeFirst)
        {
            result.Dispose();
        }
        inputs.ResponseMask.logical_not_();
        var error = Assert.ThrowsAny<Exception>(() => loss.backward());
        Assert.Contains("invalid gradient", error.Message);
        result.Dispose();
    }
}
