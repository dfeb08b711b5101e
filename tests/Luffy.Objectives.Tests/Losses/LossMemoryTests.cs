using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Luffy.Objectives.Tests.Losses;

/// <summary>
/// No leaks, no growth: live tensors (TorchSharp's per-thread dispose-scope statistics) and managed allocations
/// across many repeated loss steps. Runs sequentially: the statistics are per thread.
/// </summary>
[Collection(nameof(LossMemoryTests))]
[CollectionDefinition(nameof(LossMemoryTests), DisableParallelization = true)]
public class LossMemoryTests
{
    private static void Step(MixedPolicyLoss loss, Tensor logp, Tensor old, Tensor advantages, Tensor mask, Tensor off, Tensor reference, Tensor entropy)
    {
        using var scope = NewDisposeScope();
        using PolicyLossResult result = loss.Compute(new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask, OffPolicyMask = off, ReferenceLogProbs = reference, Entropy = entropy,
        });
        result.Loss.backward();
        _ = result.Metrics;
        logp.grad!.zero_();
        entropy.grad?.zero_();
    }

    private static (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor) Inputs(int b, int t)
    {
        manual_seed(b * 1000 + t);
        Tensor logp = (-rand(b, t) * 3).requires_grad_(true);
        Tensor entropy = rand(b, t).requires_grad_(true);
        return (logp, logp.detach() - 0.1, randn(b, t), rand(b, t).lt(0.8), rand(b, t).lt(0.3), logp.detach() - 0.2, entropy);
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void Repeated_loss_steps_leave_no_live_tensors_behind(LossKernel kernel)
    {
        var loss = new MixedPolicyLoss(new PolicyLossOptions { Kernel = kernel, OnPolicy = new ClippedSurrogate { DualClip = 3 }, KlCoefficient = 0.1, EntropyCoefficient = 0.01 });
        (Tensor logp, Tensor old, Tensor adv, Tensor mask, Tensor off, Tensor reference, Tensor entropy) = Inputs(16, 64);
        for (int i = 0; i < 5; i++)
        {
            Step(loss, logp, old, adv, mask, off, reference, entropy);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 200; i++)
        {
            Step(loss, logp, old, adv, mask, off, reference, entropy);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.True(after - before <= 0, $"{after - before} tensors were left alive by 200 loss steps ({kernel})");
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void Without_a_dispose_scope_a_disposed_result_leaves_no_tensor_behind(LossKernel kernel)
    {
        // what a user writes without TorchSharp's scopes: compute, backward, read the metrics, dispose the result. The fused
        // kernel used to leave ~7 tensors per step (what backward created and returned), RSS 165 MiB -> 1.5 GB in 1,500 steps.
        var loss = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun with { Kernel = kernel, KlCoefficient = 0.1, SftCoefficient = 0.1 });
        (Tensor logp, Tensor old, Tensor adv, Tensor mask, Tensor off, Tensor reference, Tensor entropy) = Inputs(16, 64);
        var inputs = new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = adv, ResponseMask = mask, OffPolicyMask = off, ReferenceLogProbs = reference, Entropy = entropy };
        void Step()
        {
            using PolicyLossResult result = loss.Compute(inputs);
            result.Loss.backward();
            _ = result.Metrics;
        }
        for (int i = 0; i < 5; i++)
        {
            Step();
        }
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 100; i++)
        {
            Step();
        }
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.True(after - before <= 0, $"{after - before} tensors were left alive by 100 loss steps without a dispose scope ({kernel})");
    }

    [Fact]
    public void A_leaf_takes_the_fused_gradient_buffer_as_its_grad_without_a_copy()
    {
        // Autograd copies a returned gradient that something else still references (TorchSharp keeps a handle on
        // what a custom backward returns); the kernel's inputs enter through views so that the leaf steals it.
        (Tensor logp, Tensor old, Tensor adv, Tensor mask, Tensor off, _, _) = Inputs(8, 40);
        using PolicyLossResult result = new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Fused })
            .Compute(new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = adv, ResponseMask = mask, OffPolicyMask = off });
        var state = Assert.IsType<FusedPolicyLoss.State>(result.Resources);
        Tensor buffer = state.GradLogProbs!;
        result.Loss.backward();
        Assert.True(SameData(buffer, logp.grad!), "the leaf's .grad is a copy of the kernel's gradient");
        // and it is the gradient: the composed reference agrees
        Tensor fusedGrad = logp.grad!.clone();
        logp.grad = null;
        using PolicyLossResult composed = new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Composed })
            .Compute(new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = adv, ResponseMask = mask, OffPolicyMask = off });
        composed.Loss.backward();
        Assert.True(fusedGrad.allclose(logp.grad!, rtol: 1e-5, atol: 1e-7));
    }

    private static bool SameData(Tensor a, Tensor b) => Unsafe.AreSame(ref MemoryMarshal.GetReference(a.bytes), ref MemoryMarshal.GetReference(b.bytes));

    [Fact]
    public void Managed_allocations_per_fused_step_do_not_grow_with_the_batch()
    {
        long Allocated(int b, int t)
        {
            var loss = new MixedPolicyLoss(new PolicyLossOptions { Kernel = LossKernel.Fused });
            (Tensor logp, Tensor old, Tensor adv, Tensor mask, Tensor off, Tensor reference, Tensor entropy) = Inputs(b, t);
            for (int i = 0; i < 3; i++)
            {
                Step(loss, logp, old, adv, mask, off, reference, entropy);
            }
            long start = GC.GetAllocatedBytesForCurrentThread();
            const int steps = 20;
            for (int i = 0; i < steps; i++)
            {
                Step(loss, logp, old, adv, mask, off, reference, entropy);
            }
            return (GC.GetAllocatedBytesForCurrentThread() - start) / steps;
        }

        long small = Allocated(8, 64);
        long longer = Allocated(8, 2048);
        long wider = Allocated(256, 64);
        // independent of T; with B only the per-row weights (16 bytes a row) may grow
        Assert.True(longer <= small + 2048, $"per-step allocation {small} B at T=64 but {longer} B at T=2048");
        Assert.True(wider <= small + 256 * 16 + 2048, $"per-step allocation {small} B at B=8 but {wider} B at B=256");
    }
}
