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
/// loss, its analytic gradient with respect to the log-probs and every metric — eight float32 tokens at a time with
/// AVX2, otherwise token by token in double precision; sums are reduced in double. The autograd backward hands the
/// cached gradient over (a single multiply when the output gradient is not 1). Row blocks are reduced in a fixed
/// order, so results do not depend on threading.
/// </summary>
internal static unsafe class FusedPolicyLoss
{
    private const double LogRatioClamp = 20.0;
    private const int RowsPerBlock = 8;

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
        Tensor? entropy = options.EntropyCoefficient > 0 ? inputs.Entropy : null;
        Tensor loss = FusedFunction.apply(inputs.LogProbs, entropy!, state);
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
            bool* maskPointer = (bool*)Pointer(mask);
            long tokens = 0, sequences = 0;
            for (int i = 0; i < b; i++)
            {
                int n = CountTrue(maskPointer + (long)i * t, t);
                lengths[i] = n;
                tokens += n;
                sequences += n > 0 ? 1 : 0;
            }
            this.tokens = tokens;
            this.sequences = sequences;
            for (int i = 0; i < b; i++)
            {
                weights[i] = lengths[i] == 0 ? 0 : TokenWeight(t) / (o.Aggregation == LossAggregation.SequenceMeanTokenMean ? lengths[i] : 1);
            }

            Tensor grad = Own(empty(b, t, dtype: dtype).DetachFromDisposeScope()); // every element is written by the kernel
            Accumulator total = dtype == ScalarType.Float32
                ? Kernel<float>(logp, old, advantages, mask, off, reference, entropy, grad, weights, b, t)
                : Kernel<double>(logp, old, advantages, mask, off, reference, entropy, grad, weights, b, t);

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

        private Accumulator Kernel<T>(Tensor logpT, Tensor oldT, Tensor advT, Tensor maskT, Tensor? offT, Tensor? refT, Tensor? entT, Tensor gradT, double[] weights, int b, int t)
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
        public int Rows, Columns;
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
            if (typeof(T) == typeof(float) && Avx2.IsSupported)
            {
                j = SimdRow(Unsafe.As<KernelArguments<T>, KernelArguments<float>>(ref a), i, w, ref acc);
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
    /// exp for eight floats: Cody–Waite range reduction x = n·ln2 + r and a degree-6 polynomial for e^r (Cephes
    /// expf; relative error below 2e-7 on [−87, 88]), then 2^n through the exponent bits. Inputs below −87.3 give 0
    /// (float's normal range ends there; denormals are flushed), inputs are clamped above 88.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> FastExp(Vector256<float> x)
    {
        Vector256<float> underflow = Vector256.LessThan(x, Vector256.Create(-87.33654f));
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.33654f)), Vector256.Create(88.3762626647949f));
        Vector256<float> n = Avx.RoundToNearestInteger(x * Vector256.Create(1.44269504088896341f));
        Vector256<float> r = x - n * Vector256.Create(0.693359375f) - n * Vector256.Create(-2.12194440e-4f);
        Vector256<float> p = Vector256.Create(1.9875691500E-4f);
        p = p * r + Vector256.Create(1.3981999507E-3f);
        p = p * r + Vector256.Create(8.3334519073E-3f);
        p = p * r + Vector256.Create(4.1665795894E-2f);
        p = p * r + Vector256.Create(1.6666665459E-1f);
        p = p * r + Vector256.Create(5.0000001201E-1f);
        p = p * r * r + r + Vector256<float>.One;
        Vector256<int> exponent = (Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23;
        return Vector256.AndNot(p * exponent.AsSingle(), underflow);
    }

    private static Vector256<float> MaskFromBytes(bool* bytes) =>
        Vector256.GreaterThan(Avx2.ConvertToVector256Int32((byte*)bytes), Vector256<int>.Zero).AsSingle();

    private static Vector256<float> Select(Vector256<float> mask, Vector256<float> whenTrue, Vector256<float> whenFalse) =>
        Vector256.ConditionalSelect(mask, whenTrue, whenFalse);

    /// <summary>
    /// Eight float32 tokens at a time (AVX2): the same math as <see cref="ScalarToken"/>, with row sums kept in float
    /// lanes and added to the double accumulators per row. Masked lanes are cleared with bitwise ANDs, so garbage
    /// (even NaN) in padding never leaks into sums or gradients. Returns the columns done (a multiple of 8).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int SimdRow(in KernelArguments<float> a, int i, double w, ref Accumulator acc)
    {
        int t = a.Columns;
        long row = (long)i * t;
        Vector256<float> one = Vector256<float>.One, zero = Vector256<float>.Zero, half = Vector256.Create(0.5f);
        Vector256<float> low = Vector256.Create((float)a.LowBound), high = Vector256.Create((float)a.HighBound);
        Vector256<float> minLog = Vector256.Create((float)-LogRatioClamp), maxLog = Vector256.Create((float)LogRatioClamp);
        Vector256<float> weight = Vector256.Create((float)w), klWeight = Vector256.Create((float)(a.KlCoefficient * w));
        Vector256<float> parameter = Vector256.Create((float)a.Parameter);
        Vector256<float> sPolicy = zero, sOnLoss = zero, sOffLoss = zero, sClipped = zero, sDual = zero, sPpoKl = zero, sScope = zero;
        Vector256<float> sOffP = zero, sOnP = zero, sShaped = zero, sMax = zero, sMin = zero, sKl = zero, sEntropy = zero, sOn = zero, sOff = zero;
        int j = 0;
        for (; j + 8 <= t; j += 8)
        {
            long k = row + j;
            Vector256<float> m = MaskFromBytes(a.Mask + k);
            if (Vector256.ExtractMostSignificantBits(m) == 0)
            {
                zero.Store(a.Grad + k);
                continue;
            }
            Vector256<float> off = a.Off is null ? zero : MaskFromBytes(a.Off + k) & m;
            Vector256<float> on = Vector256.AndNot(m, off);
            Vector256<float> lp = Vector256.Load(a.LogProbs + k);
            Vector256<float> negA = -Vector256.Load(a.Advantages + k);
            Vector256<float> old = Vector256.Load(a.Old + k);

            // on-policy PPO surrogate (also needed on off-policy lanes for the all-token metric scope)
            Vector256<float> d = lp - old;
            Vector256<float> ratio = FastExp(Vector256.Min(Vector256.Max(d, minLog), maxLog));
            Vector256<float> g1 = negA * (ratio & Vector256.GreaterThanOrEqual(d, minLog) & Vector256.LessThanOrEqual(d, maxLog));
            Vector256<float> l1 = negA * ratio;
            Vector256<float> value = l1, grad = g1, clipped = zero, dual = zero;
            if (a.Clip)
            {
                Vector256<float> l2 = negA * Vector256.Min(Vector256.Max(ratio, low), high);
                Vector256<float> g2 = g1 & Vector256.GreaterThanOrEqual(ratio, low) & Vector256.LessThanOrEqual(ratio, high);
                clipped = Vector256.GreaterThan(l2, l1);
                value = Select(clipped, l2, l1);
                grad = Select(clipped, g2, Select(Vector256.Equals(l2, l1), half * (g1 + g2), g1));
            }
            if (a.DualBound is { } c)
            {
                Vector256<float> negative = Vector256.GreaterThan(negA, zero);
                Vector256<float> l3 = negA * Vector256.Create((float)c);
                dual = negative & Vector256.LessThan(l3, value);
                Vector256<float> tie = negative & Vector256.Equals(l3, value);
                value = Select(dual, l3, value);
                grad = Select(dual, zero, Select(tie, half * grad, grad));
            }
            Vector256<float> scope = a.AllScope ? m : on;
            sOnLoss += value & on;
            sOn += one & on;
            sClipped += one & clipped & scope;
            sDual += one & dual & on;
            sPpoKl += (old - lp) & scope;
            sScope += one & scope;
            sOnP += FastExp(old) & on;

            if (Vector256.ExtractMostSignificantBits(off) != 0)
            {
                Vector256<float> p = FastExp(lp);
                Vector256<float> f, df;
                switch (a.Shape)
                {
                    case ShapeKind.Regularized:
                    {
                        Vector256<float> sum = p + parameter;
                        f = p / sum;
                        df = parameter * p / (sum * sum);
                        break;
                    }
                    case ShapeKind.Identity:
                        f = p;
                        df = p;
                        break;
                    case ShapeKind.Power:
                        f = FastExp(parameter * lp);
                        df = parameter * f;
                        break;
                    case ShapeKind.SquareRoot:
                        f = FastExp(half * lp);
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
                sShaped += f & off;
                sOffP += p & off;
                if (a.MaxClamp is { } hi)
                {
                    Vector256<float> bound = Vector256.Create((float)hi);
                    Vector256<float> over = Vector256.GreaterThan(f, bound);
                    sMax += one & over & off;
                    f = Select(over, bound, f);
                    df = Select(over, zero, df);
                }
                if (a.MinClamp is { } lo)
                {
                    Vector256<float> bound = Vector256.Create((float)lo);
                    Vector256<float> under = Vector256.LessThan(f, bound);
                    sMin += one & under & off;
                    f = Select(under, bound, f);
                    df = Select(under, zero, df);
                }
                Vector256<float> offValue = negA * f;
                sOffLoss += offValue & off;
                sOff += one & off;
                value = Select(off, offValue, value);
                grad = Select(off, negA * df, grad);
            }
            sPolicy += value & m;
            Vector256<float> gradient = grad * weight;
            if (a.Reference is not null)
            {
                Vector256<float> reference = Vector256.Load(a.Reference + k);
                Vector256<float> kd = lp - reference, kl, dkl;
                switch (a.Estimator)
                {
                    case KlEstimator.K1:
                        kl = kd;
                        dkl = one;
                        break;
                    case KlEstimator.Absolute:
                        kl = Vector256.Abs(kd);
                        dkl = (one & Vector256.GreaterThan(kd, zero)) - (one & Vector256.LessThan(kd, zero));
                        break;
                    case KlEstimator.K2:
                        kl = half * kd * kd;
                        dkl = kd;
                        break;
                    default:
                    {
                        Vector256<float> e = FastExp(-kd);
                        Vector256<float> k3 = e + kd - one;
                        Vector256<float> clamped = Vector256.GreaterThan(k3, Vector256.Create((float)KlDivergence.K3Clamp));
                        kl = Select(clamped, Vector256.Create((float)KlDivergence.K3Clamp), k3);
                        dkl = Select(clamped, zero, one - e);
                        break;
                    }
                }
                sKl += kl & m;
                gradient += klWeight * dkl;
            }
            if (a.Entropy is not null)
            {
                sEntropy += Vector256.Load(a.Entropy + k) & m;
            }
            (gradient & m).Store(a.Grad + k);
        }

        acc.Policy += w * Vector256.Sum(sPolicy);
        acc.Kl += w * Vector256.Sum(sKl);
        acc.Entropy += w * Vector256.Sum(sEntropy);
        acc.OnLoss += Vector256.Sum(sOnLoss);
        acc.OffLoss += Vector256.Sum(sOffLoss);
        acc.Clipped += Vector256.Sum(sClipped);
        acc.Dual += Vector256.Sum(sDual);
        acc.PpoKl += Vector256.Sum(sPpoKl);
        acc.OffProbability += Vector256.Sum(sOffP);
        acc.OnProbability += Vector256.Sum(sOnP);
        acc.ShapedSum += Vector256.Sum(sShaped);
        acc.MaxClamped += Vector256.Sum(sMax);
        acc.MinClamped += Vector256.Sum(sMin);
        acc.OnCount += (long)Vector256.Sum(sOn);
        acc.OffCount += (long)Vector256.Sum(sOff);
        acc.ScopeCount += (long)Vector256.Sum(sScope);
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
