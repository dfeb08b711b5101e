using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Shaping;
using static TorchSharp.torch;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// Forward + backward of the mixed-policy loss (clipped PPO on-policy, regularized shaping off-policy, token-mean):
/// composed TorchSharp ops (baseline) vs the fused kernel, next to a memory-bandwidth floor that reads the inputs
/// once and writes the gradient once.
/// </summary>
[MemoryDiagnoser]
public class MixedPolicyLossBenchmark
{
    private Tensor logp = null!, old = null!, advantages = null!, mask = null!, offMask = null!, floorGradient = null!, weights = null!;
    private Tensor logpBf16 = null!, oldBf16 = null!, advantagesBf16 = null!;
    private readonly MixedPolicyLoss composed = new(new PolicyLossOptions { Kernel = LossKernel.Composed, OnPolicy = new ClippedSurrogate { DualClip = 3 } });
    private readonly MixedPolicyLoss fused = new(new PolicyLossOptions { Kernel = LossKernel.Fused, OnPolicy = new ClippedSurrogate { DualClip = 3 } });
    private readonly MixedPolicyLoss fusedReshaped = new(new PolicyLossOptions { Kernel = LossKernel.Fused, OnPolicy = new ClippedSurrogate { DualClip = 3, Ratio = new RegularizedRatio(0.1) } });

    public static IEnumerable<(int B, int T)> Shapes => Program.Quick ? [(64, 1024)] : [(64, 1024), (256, 4096)];

    [ParamsSource(nameof(Shapes))]
    public (int B, int T) Shape { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        (int b, int t) = Shape;
        logp = (-rand(b, t) * 3).requires_grad_(true);
        old = logp.detach() + 0.1 * randn(b, t);
        advantages = randn(b, 1).expand(b, t).contiguous();
        mask = rand(b, t).lt(0.9);
        offMask = zeros(b, t, dtype: ScalarType.Bool);
        offMask.narrow(0, 0, b / 8).fill_(true);
        floorGradient = empty(b, t);
        weights = (0.5 + rand(b, t)).clamp_max(1.2); // truncated importance weights
        logpBf16 = logp.detach().to_type(ScalarType.BFloat16).requires_grad_(true);
        oldBf16 = old.to_type(ScalarType.BFloat16);
        advantagesBf16 = advantages.to_type(ScalarType.BFloat16);
    }

    /// <summary>The inputs <see cref="Setup"/> made, for <c>--loss-steps</c> (the same tensors as the benchmarks).</summary>
    internal (Tensor LogProbs, Tensor OldLogProbs, Tensor Advantages, Tensor ResponseMask, Tensor OffPolicyMask, Tensor Weights) Inputs =>
        (logp, old, advantages, mask, offMask, weights);

    private static double Step(MixedPolicyLoss loss, Tensor lp, Tensor o, Tensor a, Tensor m, Tensor off, Tensor? w = null)
    {
        using var scope = NewDisposeScope();
        lp.grad = null; // set-to-none, as optimizers do: backward then creates .grad (the fused kernel hands over its buffer)
        using PolicyLossResult result = loss.Compute(new PolicyLossInputs { LogProbs = lp, OldLogProbs = o, Advantages = a, ResponseMask = m, OffPolicyMask = off, RolloutWeights = w });
        result.Loss.backward();
        return result.Loss.to_type(ScalarType.Float64).item<double>();
    }

    [Benchmark(Baseline = true, Description = "composed ops, float32")]
    public double Composed() => Step(composed, logp, old, advantages, mask, offMask);

    [Benchmark(Description = "fused kernel, float32")]
    public double Fused() => Step(fused, logp, old, advantages, mask, offMask);

    [Benchmark(Description = "fused kernel + on-policy reshaping f(p)/f(p_old), float32")]
    public double FusedReshaped() => Step(fusedReshaped, logp, old, advantages, mask, offMask);

    [Benchmark(Description = "fused kernel + rollout-correction (TIS) weights, float32")]
    public double FusedTis() => Step(fused, logp, old, advantages, mask, offMask, weights);

    /// <summary>
    /// One fused step timed in parts (for --profile-loss; not a benchmark): forward (the kernel and everything around
    /// it) and backward (autograd handing the gradient to the leaf's .grad), in milliseconds.
    /// </summary>
    public (double Forward, double Backward) FusedInParts()
    {
        using var scope = NewDisposeScope();
        logp.grad = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using PolicyLossResult result = fused.Compute(Float32Inputs(logp));
        double forward = clock.Elapsed.TotalMilliseconds;
        result.Loss.backward();
        return (forward, clock.Elapsed.TotalMilliseconds - forward);
    }

    /// <summary>The fused forward pass alone (for profiling with --profile-loss; not a benchmark).</summary>
    public double FusedForwardOnly()
    {
        using var scope = NewDisposeScope();
        using PolicyLossResult result = fused.Compute(Float32Inputs(logp.detach()));
        return result.Loss.item<float>();
    }

    private PolicyLossInputs Float32Inputs(Tensor logProbs) =>
        new() { LogProbs = logProbs, OldLogProbs = old, Advantages = advantages, ResponseMask = mask, OffPolicyMask = offMask };

    [Benchmark(Description = "composed ops, bfloat16")]
    public double ComposedBFloat16() => Step(composed, logpBf16, oldBf16, advantagesBf16, mask, offMask);

    /// <summary>Reads logp, old, advantages and both masks once and writes a gradient-sized buffer once (2 threads, SIMD).</summary>
    [Benchmark(Description = "memory floor: read inputs + write gradient once")]
    public unsafe float MemoryFloor() => Floor(null);

    /// <summary>
    /// <see cref="MemoryFloor"/> reading the TIS weights too: the floor of the TIS variant, which has 22 bytes per token to
    /// move where the others have 18 (for --profile-loss; not a benchmark).
    /// </summary>
    public unsafe float MemoryFloorWithWeights() => Floor(Pointer<float>(weights));

    private unsafe float Floor(float* w)
    {
        float* lp = Pointer<float>(logp.detach()), o = Pointer<float>(old), a = Pointer<float>(advantages), g = Pointer<float>(floorGradient);
        byte* m = Pointer<byte>(mask), f = Pointer<byte>(offMask);
        long n = logp.numel();
        var sums = new float[2];
        Parallel.For(0, 2, part =>
        {
            long start = part * n / 2, end = (part + 1) * n / 2;
            Vector256<float> acc = Vector256<float>.Zero;
            Vector256<byte> bytes = Vector256<byte>.Zero;
            long i = start;
            for (; i + 32 <= end; i += 32)
            {
                bytes |= Vector256.Load(m + i) | Vector256.Load(f + i);
                for (int k = 0; k < 32; k += 8)
                {
                    Vector256<float> v = Vector256.Load(lp + i + k) + Vector256.Load(o + i + k) + Vector256.Load(a + i + k);
                    if (w != null)
                    {
                        v += Vector256.Load(w + i + k);
                    }
                    acc += v;
                    v.Store(g + i + k);
                }
            }
            for (; i < end; i++)
            {
                g[i] = lp[i] + o[i] + a[i] + m[i] + f[i] + (w != null ? w[i] : 0);
            }
            sums[part] = Vector256.Sum(acc) + bytes.GetElement(0);
        });
        return sums[0] + sums[1];
    }

    private static unsafe T* Pointer<T>(Tensor t) where T : unmanaged => (T*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));
}
