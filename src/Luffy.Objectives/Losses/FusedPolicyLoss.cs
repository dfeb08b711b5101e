using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Luffy.Objectives.Internal;
using Luffy.Objectives.Shaping;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// The fused CPU kernel of <see cref="MixedPolicyLoss"/>: one pass over the tokens (rows in parallel) computes the
/// loss, its analytic gradient with respect to the log-probs and every metric — sixteen float32 tokens at a time with
/// AVX-512, eight with AVX2 + FMA (one generic body, <see cref="IFloatLanes{TSelf}"/>), otherwise token by token in
/// double precision; sums are reduced in double. The autograd backward hands the
/// cached gradient over (a single multiply when the output gradient is not 1). Row blocks are reduced in a fixed
/// order, so results do not depend on threading.
/// </summary>
internal static unsafe class FusedPolicyLoss
{
    private const double LogRatioClamp = 20.0;
    private const int RowsPerBlock = 8;

    /// <summary>
    /// Caps the SIMD width on the calling thread (16 = AVX-512, 8 = AVX2, 1 = scalar); null picks the widest the
    /// hardware runs. For tests, so that every path is checked on any machine.
    /// </summary>
    [ThreadStatic]
    internal static int? MaxLanesOverride;

    /// <summary>The widest float32 SIMD path the hardware runs, capped by <see cref="MaxLanesOverride"/>.</summary>
    internal static int MaxLanes()
    {
        int cap = MaxLanesOverride ?? int.MaxValue;
        return FloatLanes512.IsAccelerated && cap >= 16 ? 16 : FloatLanes256.IsAccelerated && cap >= 8 ? 8 : 1;
    }

    private enum ShapeKind
    {
        Regularized,
        Identity,
        Power,
        SquareRoot,
        Log,
        IdentityPlusLog,
    }

    /// <summary>Whether the fused kernel can run these inputs; <paramref name="reason"/> says why not.</summary>
    public static bool Supports(PolicyLossInputs inputs, PolicyLossOptions options, out string reason)
    {
        Tensor logp = inputs.LogProbs;
        if (logp.device_type != TorchSharp.DeviceType.CPU)
        {
            reason = $"the fused kernel runs on the CPU; LogProbs is on {logp.device}";
            return false;
        }
        if (logp.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            reason = $"the fused kernel supports float32 and float64; LogProbs is {logp.dtype}";
            return false;
        }
        if (Shape(options.Shaping, out _) is null)
        {
            reason = $"the fused kernel supports the built-in shaping functions; {options.Shaping.GetType().Name} is not one";
            return false;
        }
        if (logp.numel() > int.MaxValue)
        {
            reason = "the fused kernel supports up to 2^31 tokens per call";
            return false;
        }
        reason = "";
        return true;
    }

    private static ShapeKind? Shape(IShapingFunction shaping, out double parameter)
    {
        switch (shaping)
        {
            case RegularizedShaping r:
                parameter = r.Gamma;
                return ShapeKind.Regularized;
            case IdentityShaping:
                parameter = 0;
                return ShapeKind.Identity;
            case PowerShaping k:
                parameter = k.Exponent;
                return ShapeKind.Power;
            case SquareRootShaping:
                parameter = 0;
                return ShapeKind.SquareRoot;
            case LogShaping w:
                parameter = w.Weight;
                return ShapeKind.Log;
            case IdentityPlusLogShaping w:
                parameter = w.Weight;
                return ShapeKind.IdentityPlusLog;
            default:
                parameter = 0;
                return null;
        }
    }

    public static PolicyLossResult Compute(PolicyLossInputs inputs, PolicyLossOptions options)
    {
        var state = new State(inputs, options);
        // The differentiable inputs enter through same-shape views. Autograd copies a gradient that anything else
        // still references, and TorchSharp keeps a handle on every tensor a custom backward returns; the views'
        // backward hands autograd a fresh reference instead, so a leaf's .grad takes the kernel's gradient buffer
        // without a copy (measured at (256, 4096): backward 0.5 ms with the copy, 0.07 ms without).
        using Tensor logProbs = inputs.LogProbs.view(inputs.LogProbs.shape);
        using Tensor? entropy = options.EntropyCoefficient > 0 ? inputs.Entropy?.view(inputs.Entropy.shape) : null;
        Tensor loss = FusedFunction.apply(logProbs, entropy!, state);
        return new PolicyLossResult(loss, state.Metrics!, state);
    }

    /// <summary>Per-block partial sums, reduced in block order.</summary>
    private struct Accumulator
    {
        public double Policy, Entropy, Kl;
        public double OnLoss, OffLoss, Clipped, Dual, PpoKl, OffProbability, OnProbability, ShapedSum, MaxClamped, MinClamped;
        public long OnCount, OffCount, ScopeCount;

        public void Add(in Accumulator o)
        {
            Policy += o.Policy;
            Entropy += o.Entropy;
            Kl += o.Kl;
            OnLoss += o.OnLoss;
            OffLoss += o.OffLoss;
            Clipped += o.Clipped;
            Dual += o.Dual;
            PpoKl += o.PpoKl;
            OffProbability += o.OffProbability;
            OnProbability += o.OnProbability;
            ShapedSum += o.ShapedSum;
            MaxClamped += o.MaxClamped;
            MinClamped += o.MinClamped;
            OnCount += o.OnCount;
            OffCount += o.OffCount;
            ScopeCount += o.ScopeCount;
        }
    }

    /// <summary>Everything one fused call owns: its inputs (contiguous views), gradients and metrics.</summary>
    internal sealed class State : IDisposable
    {
        private readonly PolicyLossInputs inputs;
        private readonly PolicyLossOptions o;
        private readonly List<Tensor> owned = [];
        private bool disposed, released, backwardRan, hasEntropyGradient, handedOver;
        private long tokens, sequences;

        public State(PolicyLossInputs inputs, PolicyLossOptions options)
        {
            this.inputs = inputs;
            o = options;
        }

        public Tensor? GradLogProbs { get; private set; }

        /// <summary>
        /// The gradient of a plain <c>loss.backward()</c> (d loss / d loss = 1 on the CPU): the cached buffer itself,
        /// handed over to autograd instead of a scaled copy — no second (B, T) allocation, whose fresh pages cost as
        /// much as the kernel. The buffer then belongs to the caller (it typically becomes <c>LogProbs.grad</c>, and
        /// optimizers and clipping may change it in place), so a later backward through the same graph
        /// (retain_graph) recomputes the gradient instead of reusing it.
        /// </summary>
        public Tensor GradientFor(Tensor gradOutput)
        {
            if (handedOver)
            {
                Run().Dispose();
            }
            Tensor cached = GradLogProbs!;
            if (gradOutput.numel() == 1 && gradOutput.device_type == TorchSharp.DeviceType.CPU && gradOutput.to_type(ScalarType.Float64).item<double>() == 1.0)
            {
                handedOver = true;
                return cached.alias();
            }
            return cached * gradOutput.to_type(cached.dtype);
        }

        public bool HasEntropyGradient => hasEntropyGradient;

        public Tensor? Metrics { get; private set; }

        public double Loss { get; private set; }

        private Tensor Own(Tensor t)
        {
            owned.Add(t);
            return t;
        }

        private Tensor View(Tensor t, ScalarType dtype) =>
            Own((t.dtype == dtype ? t.detach() : t.detach().to_type(dtype)).contiguous().DetachFromDisposeScope());

        private Tensor BoolView(Tensor t) => Own(TensorGuard.AsBoolMask(t.detach()).contiguous().DetachFromDisposeScope());

        /// <summary>
        /// Runs the kernel. Optimized at first call: a method called once per training step would otherwise run as
        /// unoptimized tier-0 code for its first 30 calls, and its per-row loops cost more than the kernel itself.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public Tensor Run()
        {
            ScalarType dtype = inputs.LogProbs.dtype;
            Tensor logp = View(inputs.LogProbs, dtype);
            Tensor old = View(inputs.OldLogProbs, dtype);
            Tensor advantages = View(inputs.Advantages, dtype);
            Tensor mask = BoolView(inputs.ResponseMask);
            Tensor? off = inputs.OffPolicyMask is null ? null : BoolView(inputs.OffPolicyMask);
            Tensor? reference = inputs.ReferenceLogProbs is null ? null : View(inputs.ReferenceLogProbs, dtype);
            Tensor? entropy = inputs.Entropy is null ? null : View(inputs.Entropy, dtype);
            int b = (int)logp.shape[0], t = (int)logp.shape[1];

            // Aggregation weight of each row: ∂aggregate/∂L[b, t] (0 for empty rows). Pooled: no per-step garbage.
            int[] lengths = ArrayPool<int>.Shared.Rent(b);
            double[] weights = ArrayPool<double>.Shared.Rent(b);
            bool[] offRows = ArrayPool<bool>.Shared.Rent(b); // rows with any off-policy token (the others skip the off-policy lanes)
            bool* maskPointer = (bool*)Pointer(mask), offPointer = off is null ? null : (bool*)Pointer(off);
            long tokens = 0, sequences = 0;
            for (int i = 0; i < b; i++)
            {
                int n = CountTrue(maskPointer + (long)i * t, t);
                lengths[i] = n;
                tokens += n;
                sequences += n > 0 ? 1 : 0;
                offRows[i] = offPointer is not null && CountTrue(offPointer + (long)i * t, t) > 0;
            }
            this.tokens = tokens;
            this.sequences = sequences;
            for (int i = 0; i < b; i++)
            {
                weights[i] = lengths[i] == 0 ? 0 : TokenWeight(t) / (o.Aggregation == LossAggregation.SequenceMeanTokenMean ? lengths[i] : 1);
            }

            Tensor grad = Own(empty(b, t, dtype: dtype).DetachFromDisposeScope()); // every element is written by the kernel
            Accumulator total = dtype == ScalarType.Float32
                ? Kernel<float>(logp, old, advantages, mask, off, reference, entropy, grad, weights, offRows, b, t)
                : Kernel<double>(logp, old, advantages, mask, off, reference, entropy, grad, weights, offRows, b, t);

            ArrayPool<bool>.Shared.Return(offRows);
            ArrayPool<int>.Shared.Return(lengths);
            ArrayPool<double>.Shared.Return(weights);
            Loss = total.Policy - o.EntropyCoefficient * total.Entropy + o.KlCoefficient * total.Kl;
            GradLogProbs = grad;
            hasEntropyGradient = o.EntropyCoefficient > 0 && entropy is not null;
            double Mean(double sum, long count) => count == 0 ? 0 : sum / count;
            Metrics ??= tensor(new[]
            {
                Loss,
                total.Policy,
                Mean(total.OnLoss, total.OnCount),
                Mean(total.OffLoss, total.OffCount),
                Mean(total.Clipped, total.ScopeCount),
                Mean(total.Dual, total.OnCount),
                Mean(total.PpoKl, total.ScopeCount),
                Mean(total.OffProbability, total.OffCount),
                Mean(total.OnProbability, total.OnCount),
                Mean(total.ShapedSum, total.OffCount),
                Mean(total.MaxClamped, total.OffCount),
                Mean(total.MinClamped, total.OffCount),
                entropy is null ? 0 : total.Entropy,
                reference is null ? 0 : total.Kl,
                total.OnCount,
                total.OffCount,
            }, dtype: ScalarType.Float64).DetachFromDisposeScope();
            return tensor(Loss, dtype: ScalarType.Float64).to_type(dtype);
        }

        /// <summary>
        /// ∂aggregate/∂L of one response token, before the per-row 1/length of sequence-mean-token-mean: 1 over the
        /// token count, the sequence count or C (each replaced by the global normalizer when one is given).
        /// </summary>
        private double TokenWeight(long columns) => 1.0 / (inputs.GlobalNormalizer ?? o.Aggregation switch
        {
            LossAggregation.TokenMean => Math.Max(tokens, 1),
            LossAggregation.SequenceMeanTokenSum or LossAggregation.SequenceMeanTokenMean => Math.Max(sequences, 1),
            _ => o.AggregationConstant ?? columns,
        });

        /// <summary>∂L/∂H = −coefficient·(row weight) on response tokens; the row weights are rebuilt from the mask.</summary>
        public Tensor GradEntropy()
        {
            using var scope = NewDisposeScope();
            Tensor mask = TensorGuard.AsBoolMask(inputs.ResponseMask).to_type(inputs.LogProbs.dtype);
            Tensor weighted = mask * (-o.EntropyCoefficient * TokenWeight(mask.shape[1]));
            if (o.Aggregation == LossAggregation.SequenceMeanTokenMean)
            {
                weighted = weighted / mask.sum(1, keepdim: true).clamp_min(1);
            }
            return weighted.MoveToOuterDisposeScope();
        }

        /// <summary>
        /// Called by backward. Throwing here would cross a native callback and end the process, so a result disposed
        /// before backward keeps its gradients until the first backward has used them.
        /// </summary>
        public void BackwardDone()
        {
            backwardRan = true;
            if (released)
            {
                ReleaseTensors();
            }
        }

        private static void* Pointer(Tensor t) => Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

        private Accumulator Kernel<T>(Tensor logpT, Tensor oldT, Tensor advT, Tensor maskT, Tensor? offT, Tensor? refT, Tensor? entT, Tensor gradT, double[] weights, bool[] offRows, int b, int t)
            where T : unmanaged, IBinaryFloatingPointIeee754<T>
        {
            var args = new KernelArguments<T>
            {
                LogProbs = (T*)Pointer(logpT),
                Old = (T*)Pointer(oldT),
                Advantages = (T*)Pointer(advT),
                Grad = (T*)Pointer(gradT),
                Mask = (bool*)Pointer(maskT),
                Off = offT is null ? null : (bool*)Pointer(offT),
                Reference = refT is null ? null : (T*)Pointer(refT),
                Entropy = entT is null ? null : (T*)Pointer(entT),
                Shape = Shape(o.Shaping, out double parameter)!.Value,
                Parameter = parameter,
                Clip = o.ClipOnPolicyRatio,
                AllScope = o.MetricScope == MetricScope.AllResponseTokens,
                LowBound = 1 - o.ClipLow,
                HighBound = 1 + o.ClipHigh,
                DualBound = o.DualClip is { } c ? Math.Max(c, 1 + o.ClipHigh) : null,
                MaxClamp = o.OffPolicyMaxClamp,
                MinClamp = o.OffPolicyMinClamp,
                KlCoefficient = o.KlCoefficient,
                Estimator = o.KlEstimator,
                Weights = weights,
                OffRows = offRows,
                Lanes = MaxLanes(),
                Rows = b,
                Columns = t,
            };
            int blocks = (b + RowsPerBlock - 1) / RowsPerBlock;
            Accumulator[] partial = ArrayPool<Accumulator>.Shared.Rent(blocks);
            Parallel.For(0, blocks, block => partial[block] = ProcessBlock(args, block));

            Accumulator total = default;
            for (int block = 0; block < blocks; block++)
            {
                total.Add(partial[block]);
            }
            ArrayPool<Accumulator>.Shared.Return(partial);
            return total;
        }

        /// <summary>
        /// Releases the cached gradients now when no backward can need them (backward already ran, or the log-probs
        /// do not require grad); otherwise right after the first backward. A graph that is never differentiated
        /// leaves them to the garbage collector.
        /// </summary>
        public void Dispose()
        {
            released = true;
            if (backwardRan || !inputs.LogProbs.requires_grad)
            {
                ReleaseTensors();
            }
        }

        private void ReleaseTensors()
        {
            if (disposed)
            {
                return;
            }
            disposed = true;
            foreach (Tensor t in owned)
            {
                t.Dispose();
            }
            owned.Clear();
        }
    }

    /// <summary>Pointers and settings of one kernel call.</summary>
    private struct KernelArguments<T>
        where T : unmanaged
    {
        public T* LogProbs, Old, Advantages, Grad, Reference, Entropy;
        public bool* Mask, Off;
        public ShapeKind Shape;
        public double Parameter, LowBound, HighBound, KlCoefficient;
        public double? DualBound, MaxClamp, MinClamp;
        public bool Clip, AllScope;
        public KlEstimator Estimator;
        public double[] Weights;
        public bool[] OffRows;
        public int Lanes, Rows, Columns;
    }

    /// <summary>The per-token loop over one block of rows; optimized at first call (no tier-0 pass for a kernel called once a step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Accumulator ProcessBlock<T>(KernelArguments<T> a, int block)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Accumulator acc = default;
        int t = a.Columns;
        int end = Math.Min(a.Rows, (block + 1) * RowsPerBlock);
        for (int i = block * RowsPerBlock; i < end; i++)
        {
            double w = a.Weights[i];
            int j = 0;
            if (typeof(T) == typeof(float))
            {
                ref KernelArguments<float> floats = ref Unsafe.As<KernelArguments<T>, KernelArguments<float>>(ref a);
                if (a.Lanes >= 16)
                {
                    j = SimdRow<FloatLanes512>(floats, i, j, w, ref acc);
                }
                if (a.Lanes >= 8)
                {
                    j = SimdRow<FloatLanes256>(floats, i, j, w, ref acc);
                }
            }
            for (; j < t; j++)
            {
                ScalarToken(a, (long)i * t + j, w, ref acc);
            }
        }
        return acc;
    }

    /// <summary>One token in double precision: loss, gradient and metrics.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScalarToken<T>(in KernelArguments<T> a, long k, double w, ref Accumulator acc)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (!a.Mask[k])
        {
            a.Grad[k] = T.Zero;
            return;
        }
        double lp = double.CreateTruncating(a.LogProbs[k]);
        double adv = double.CreateTruncating(a.Advantages[k]);
        double value, g;
        if (a.Off is not null && a.Off[k])
        {
            (double f, double df) = Shaped(a.Shape, a.Parameter, lp);
            acc.ShapedSum += f;
            acc.OffProbability += Math.Exp(lp);
            if (a.MaxClamp is { } hi && f > hi)
            {
                f = hi;
                df = 0;
                acc.MaxClamped++;
            }
            if (a.MinClamp is { } lo && f < lo)
            {
                f = lo;
                df = 0;
                acc.MinClamped++;
            }
            value = -adv * f;
            g = -adv * df;
            acc.OffLoss += value;
            acc.OffCount++;
            if (a.AllScope)
            {
                double oldLp = double.CreateTruncating(a.Old[k]);
                OnPolicy(lp, oldLp, adv, a.Clip, a.LowBound, a.HighBound, a.DualBound, out _, out bool clipped, out _);
                acc.Clipped += clipped ? 1 : 0;
                acc.PpoKl += oldLp - lp;
                acc.ScopeCount++;
            }
        }
        else
        {
            double oldLp = double.CreateTruncating(a.Old[k]);
            value = OnPolicy(lp, oldLp, adv, a.Clip, a.LowBound, a.HighBound, a.DualBound, out g, out bool clipped, out bool dual);
            acc.OnLoss += value;
            acc.OnCount++;
            acc.Clipped += clipped ? 1 : 0;
            acc.Dual += dual ? 1 : 0;
            acc.PpoKl += oldLp - lp;
            acc.OnProbability += Math.Exp(oldLp);
            acc.ScopeCount++;
        }
        acc.Policy += w * value;
        double gradient = w * g;
        if (a.Reference is not null)
        {
            (double kl, double dkl) = Kl(lp, double.CreateTruncating(a.Reference[k]), a.Estimator);
            acc.Kl += w * kl;
            gradient += a.KlCoefficient * w * dkl;
        }
        if (a.Entropy is not null)
        {
            acc.Entropy += w * double.CreateTruncating(a.Entropy[k]);
        }
        a.Grad[k] = T.CreateTruncating(gradient);
    }

    /// <summary>Number of true values among <paramref name="count"/> bools, 32 at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int CountTrue(bool* values, int count)
    {
        int n = 0, j = 0;
        var bytes = (byte*)values;
        for (; j + 32 <= count; j += 32)
        {
            n += BitOperations.PopCount(Vector256.ExtractMostSignificantBits(Vector256.GreaterThan(Vector256.Load(bytes + j), Vector256<byte>.Zero)));
        }
        for (; j < count; j++)
        {
            n += values[j] ? 1 : 0;
        }
        return n;
    }

    /// <summary>
    /// exp of every lane: Cody–Waite range reduction x = n·ln2 + r, a degree-6 polynomial for e^r (Cephes expf;
    /// relative error below 2e-7 over float's normal range), then scaling by 2^n. Inputs are clamped to
    /// [−87.9, 88.4]; NaN stays NaN. Below float's normal range (x &lt; −87.3) the result is under 1e-38 rather than
    /// e^x (0 with AVX2, whose 2^−127 has zero exponent bits; a denormal with AVX-512's vscalefps), which no sum or
    /// gradient here can tell apart.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Exp<TV>(TV x)
        where TV : unmanaged, IFloatLanes<TV>
        => ExpInRange(TV.Min(TV.Create(88.3762626647949f), TV.Max(TV.Create(-87.9f), x)));

    /// <summary><see cref="Exp{TV}"/> for inputs already inside [−87.9, 88.4] (or NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ExpInRange<TV>(TV x)
        where TV : unmanaged, IFloatLanes<TV>
    {
        TV n = TV.Round(x * TV.Create(1.44269504088896341f));
        TV r = TV.FusedMultiplyAdd(n, TV.Create(-0.693359375f), x);
        r = TV.FusedMultiplyAdd(n, TV.Create(2.12194440e-4f), r);
        TV p = TV.FusedMultiplyAdd(TV.Create(1.9875691500E-4f), r, TV.Create(1.3981999507E-3f));
        p = TV.FusedMultiplyAdd(p, r, TV.Create(8.3334519073E-3f));
        p = TV.FusedMultiplyAdd(p, r, TV.Create(4.1665795894E-2f));
        p = TV.FusedMultiplyAdd(p, r, TV.Create(1.6666665459E-1f));
        p = TV.FusedMultiplyAdd(p, r, TV.Create(5.0000001201E-1f));
        p = TV.FusedMultiplyAdd(p, r * r, r) + TV.Create(1f);
        return TV.ScaleByPowerOfTwo(p, n);
    }

    /// <summary>
    /// <typeparamref name="TV"/>.Count float32 tokens at a time from column <paramref name="start"/>: the same math as
    /// <see cref="ScalarToken"/>, with row sums kept in float lanes (counts in int lanes) and added to the double
    /// accumulators per row. Masked lanes are cleared (<see cref="IFloatLanes{TSelf}.Where"/>), so garbage (even NaN)
    /// in padding never leaks into sums or gradients. Returns the first column not done.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int SimdRow<TV>(in KernelArguments<float> a, int i, int start, double w, ref Accumulator acc)
        where TV : unmanaged, IFloatLanes<TV>
    {
        int t = a.Columns;
        long row = (long)i * t;
        float* logProbs = a.LogProbs + row, oldLogProbs = a.Old + row, advantages = a.Advantages + row, gradients = a.Grad + row;
        float* references = a.Reference is null ? null : a.Reference + row, entropies = a.Entropy is null ? null : a.Entropy + row;
        bool* mask = a.Mask + row, offMask = a.OffRows[i] ? a.Off + row : null;

        // Loop invariants, hoisted by hand: the JIT does not unswitch loops.
        TV one = TV.Create(1f), zero = default, half = TV.Create(0.5f);
        TV low = TV.Create((float)a.LowBound), high = TV.Create((float)a.HighBound);
        TV minLog = TV.Create((float)-LogRatioClamp), maxLog = TV.Create((float)LogRatioClamp);
        TV weight = TV.Create((float)w), klWeight = TV.Create((float)(a.KlCoefficient * w)), parameter = TV.Create((float)a.Parameter);
        bool clip = a.Clip, allScope = a.AllScope, hasDual = a.DualBound.HasValue, hasMax = a.MaxClamp.HasValue, hasMin = a.MinClamp.HasValue;
        TV dualBound = TV.Create((float)a.DualBound.GetValueOrDefault()), maxBound = TV.Create((float)a.MaxClamp.GetValueOrDefault());
        TV minBound = TV.Create((float)a.MinClamp.GetValueOrDefault()), k3Clamp = TV.Create((float)KlDivergence.K3Clamp);
        TV minusInfinity = TV.Create(float.NegativeInfinity), plusInfinity = TV.Create(float.PositiveInfinity);
        TV lowWhereNegative = clip ? low : minusInfinity, highWhereNegative = hasDual ? dualBound : plusInfinity, highWherePositive = clip ? high : plusInfinity;
        ShapeKind shape = a.Shape;
        KlEstimator estimator = a.Estimator;

        TV sOnLoss = zero, sOffLoss = zero, sPpoKl = zero, sOnP = zero, sOffP = zero, sShaped = zero, sKl = zero, sEntropy = zero;
        TV nOn = zero, nOff = zero, nClipped = zero, nDual = zero, nMax = zero, nMin = zero;
        int j = start;
        for (; j + TV.Count <= t; j += TV.Count)
        {
            if (!TV.AnyTrue(mask + j))
            {
                TV.Store(zero, gradients + j);
                continue;
            }
            TV m = TV.LoadMask(mask + j);
            TV off = offMask is null ? zero : TV.LoadMask(offMask + j) & m;
            bool anyOff = offMask is not null && TV.Any(off);
            TV on = anyOff ? TV.AndNot(m, off) : m;
            TV lp = TV.Load(logProbs + j), old = TV.Load(oldLogProbs + j);
            TV negA = -TV.Load(advantages + j);

            // on-policy PPO surrogate (also needed on off-policy lanes for the all-token metric scope)
            TV d = lp - old;
            TV clamped = TV.Min(maxLog, TV.Max(minLog, d)); // NaN stays NaN
            TV ratio = ExpInRange(clamped);
            // The clipped surrogate max(−A·r, −A·clip(r)), then for A < 0 the dual clip min(·, −A·c), is −A·q for the
            // ratio clamped to [lo, hi]: lo = 1 − ε_low and hi = c where A < 0, hi = 1 + ε_high where A > 0. Its
            // gradient is −A·r where q = r (bounds included) and 0 where a bound is active — halved at r = c, where
            // torch's min splits a tie. Ties are decided on the ratio; the composed ops decide them on the rounded
            // products, which can differ only for a ratio within an ulp of a bound.
            TV negative = TV.GreaterThan(negA, zero), positive = TV.LessThan(negA, zero);
            TV lo = TV.Select(negative, lowWhereNegative, minusInfinity), hi = TV.Select(negative, highWhereNegative, highWherePositive);
            TV q = TV.Min(hi, TV.Max(lo, ratio)); // NaN stays NaN
            TV value = negA * q;
            TV grad = TV.Where(TV.Equal(q, ratio) & TV.Equal(clamped, d), negA * ratio); // none where the log-ratio was clamped
            TV clipped = zero, dual = zero;
            if (clip)
            {
                clipped = (negative & TV.LessThan(ratio, low)) | (positive & TV.GreaterThan(ratio, high));
            }
            if (hasDual)
            {
                dual = negative & TV.GreaterThan(ratio, dualBound);
                grad = TV.Select(negative & TV.Equal(ratio, dualBound), half * grad, grad);
            }
            TV scope = allScope ? m : on;
            sOnLoss += TV.Where(on, value);
            nOn = TV.CountWhere(nOn, on);
            nClipped = TV.CountWhere(nClipped, clipped & scope);
            nDual = TV.CountWhere(nDual, dual & on);
            sPpoKl -= TV.Where(scope, d);
            sOnP += TV.Where(on, Exp(old));

            if (anyOff)
            {
                TV p = Exp(lp);
                TV f, df;
                switch (shape)
                {
                    case ShapeKind.Regularized:
                    {
                        TV sum = p + parameter;
                        f = p / sum;
                        df = parameter * f / sum;
                        break;
                    }
                    case ShapeKind.Identity:
                        f = p;
                        df = p;
                        break;
                    case ShapeKind.Power:
                        f = Exp(parameter * lp);
                        df = parameter * f;
                        break;
                    case ShapeKind.SquareRoot:
                        f = Exp(half * lp);
                        df = half * f;
                        break;
                    case ShapeKind.Log:
                        f = parameter * lp;
                        df = parameter;
                        break;
                    default:
                        f = p + parameter * lp;
                        df = p + parameter;
                        break;
                }
                sShaped += TV.Where(off, f);
                sOffP += TV.Where(off, p);
                if (hasMax)
                {
                    TV over = TV.GreaterThan(f, maxBound);
                    nMax = TV.CountWhere(nMax, over & off);
                    f = TV.Select(over, maxBound, f);
                    df = TV.AndNot(df, over);
                }
                if (hasMin)
                {
                    TV under = TV.LessThan(f, minBound);
                    nMin = TV.CountWhere(nMin, under & off);
                    f = TV.Select(under, minBound, f);
                    df = TV.AndNot(df, under);
                }
                sOffLoss += TV.Where(off, negA * f);
                nOff = TV.CountWhere(nOff, off);
                grad = TV.Select(off, negA * df, grad);
            }
            TV gradient = grad * weight;
            if (references is not null)
            {
                TV kd = lp - TV.Load(references + j), kl, dkl;
                switch (estimator)
                {
                    case KlEstimator.K1:
                        kl = kd;
                        dkl = one;
                        break;
                    case KlEstimator.Absolute:
                        kl = TV.Abs(kd);
                        dkl = TV.Where(TV.GreaterThan(kd, zero), one) - TV.Where(TV.LessThan(kd, zero), one);
                        break;
                    case KlEstimator.K2:
                        kl = half * kd * kd;
                        dkl = kd;
                        break;
                    default:
                    {
                        TV e = Exp(-kd);
                        TV k3 = e + kd - one;
                        TV over = TV.GreaterThan(k3, k3Clamp);
                        kl = TV.Select(over, k3Clamp, k3);
                        dkl = TV.AndNot(one - e, over);
                        break;
                    }
                }
                sKl += TV.Where(m, kl);
                gradient = TV.FusedMultiplyAdd(klWeight, dkl, gradient);
            }
            if (entropies is not null)
            {
                sEntropy += TV.Where(m, TV.Load(entropies + j));
            }
            TV.Store(TV.Where(m, gradient), gradients + j);
        }

        double onLoss = TV.Sum(sOnLoss), offLoss = TV.Sum(sOffLoss);
        long onCount = TV.SumCounts(nOn), offCount = TV.SumCounts(nOff);
        acc.Policy += w * (onLoss + offLoss); // every response lane is either on- or off-policy
        acc.Kl += w * TV.Sum(sKl);
        acc.Entropy += w * TV.Sum(sEntropy);
        acc.OnLoss += onLoss;
        acc.OffLoss += offLoss;
        acc.Clipped += TV.SumCounts(nClipped);
        acc.Dual += TV.SumCounts(nDual);
        acc.PpoKl += TV.Sum(sPpoKl);
        acc.OffProbability += TV.Sum(sOffP);
        acc.OnProbability += TV.Sum(sOnP);
        acc.ShapedSum += TV.Sum(sShaped);
        acc.MaxClamped += TV.SumCounts(nMax);
        acc.MinClamped += TV.SumCounts(nMin);
        acc.OnCount += onCount;
        acc.OffCount += offCount;
        acc.ScopeCount += allScope ? onCount + offCount : onCount;
        return j;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double OnPolicy(double lp, double old, double a, bool clip, double low, double high, double? dualBound, out double grad, out bool clipped, out bool dual)
    {
        double d = lp - old;
        double ratio = Math.Exp(Math.Clamp(d, -LogRatioClamp, LogRatioClamp));
        double dRatio = d >= -LogRatioClamp && d <= LogRatioClamp ? ratio : 0;
        double l1 = -a * ratio, g1 = -a * dRatio;
        double value = l1;
        grad = g1;
        clipped = false;
        dual = false;
        if (clip)
        {
            double clippedRatio = Math.Clamp(ratio, low, high);
            double l2 = -a * clippedRatio;
            double g2 = ratio >= low && ratio <= high ? g1 : 0;
            if (l2 > l1)
            {
                clipped = true;
                value = l2;
                grad = g2;
            }
            else if (l2 == l1)
            {
                grad = 0.5 * (g1 + g2);
            }
        }
        if (dualBound is { } c && a < 0)
        {
            double l3 = -a * c;
            if (l3 < value)
            {
                dual = true;
                value = l3;
                grad = 0;
            }
            else if (l3 == value)
            {
                grad *= 0.5;
            }
        }
        return value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (double Value, double Derivative) Shaped(ShapeKind shape, double parameter, double lp)
    {
        switch (shape)
        {
            case ShapeKind.Regularized:
            {
                double p = Math.Exp(lp), s = p + parameter;
                return (p / s, parameter * p / (s * s));
            }
            case ShapeKind.Identity:
            {
                double p = Math.Exp(lp);
                return (p, p);
            }
            case ShapeKind.Power:
            {
                double v = Math.Exp(parameter * lp);
                return (v, parameter * v);
            }
            case ShapeKind.SquareRoot:
            {
                double v = Math.Exp(0.5 * lp);
                return (v, 0.5 * v);
            }
            case ShapeKind.Log:
                return (parameter * lp, parameter);
            default:
            {
                double p = Math.Exp(lp);
                return (p + parameter * lp, p + parameter);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (double Value, double Derivative) Kl(double lp, double reference, KlEstimator estimator)
    {
        double d = lp - reference;
        switch (estimator)
        {
            case KlEstimator.K1:
                return (d, 1);
            case KlEstimator.Absolute:
                return (Math.Abs(d), d > 0 ? 1 : d < 0 ? -1 : 0);
            case KlEstimator.K2:
                return (0.5 * d * d, d);
            default:
            {
                double kl = -d, e = Math.Exp(kl);
                double value = e - kl - 1;
                if (value > KlDivergence.K3Clamp)
                {
                    return (KlDivergence.K3Clamp, 0);
                }
                if (value < -KlDivergence.K3Clamp)
                {
                    return (-KlDivergence.K3Clamp, 0);
                }
                return (value, 1 - e);
            }
        }
    }

    /// <summary>The autograd node: forward runs the kernel, backward scales the cached gradients.</summary>
    private sealed class FusedFunction : autograd.SingleTensorFunction<FusedFunction>
    {
        public override string Name => "LuffyFusedMixedPolicyLoss";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var state = (State)vars[2];
            ctx.save_data("state", state);
            return state.Run();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            var state = (State)ctx.get_data("state");
            Tensor gradLogProbs = state.GradientFor(grad_output);
            Tensor? gradEntropy = state.HasEntropyGradient ? state.GradEntropy() * grad_output.to_type(gradLogProbs.dtype) : null;
            state.BackwardDone();
            return [gradLogProbs, gradEntropy!, null!];
        }
    }
}
