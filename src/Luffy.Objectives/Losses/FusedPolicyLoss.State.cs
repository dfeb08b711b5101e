using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Luffy.Objectives.Internal;
using Luffy.Objectives.Shaping;
using static Luffy.Objectives.Internal.TensorMemory;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

internal static unsafe partial class FusedPolicyLoss
{
    /// <summary>
    /// Everything one fused call owns: views of its inputs (taken when the loss is computed, so the caller may dispose
    /// its tensors before backward), the cached gradient and the metrics. The autograd node also saves the input views
    /// (<see cref="SavedTensors"/>): the graph keeps what its backward needs, as it does for the composed ops, so a
    /// result disposed before a backward, or between backward passes through a retained graph, still differentiates
    /// correctly; the state's own handles are released at <see cref="Dispose"/>.
    /// </summary>
    internal sealed class State : IDisposable
    {
        private readonly PolicyLossOptions o;
        private readonly LossNormalizers? normalizers;
        private readonly List<Tensor> returned = [];
        private Tensor logp, old, advantages, mask;
        private Tensor? off, reference, entropy, traceProbabilities, traceLogProbs, weights, metrics;
        private double[]? regularizerWeights;
        private bool handedOver;

        public State(PolicyLossInputs inputs, PolicyLossOptions options)
        {
            o = options;
            normalizers = inputs.Normalizers;
            ScalarType dtype = inputs.LogProbs.dtype;
            logp = View(inputs.LogProbs, dtype);
            old = View(inputs.OldLogProbs, dtype);
            advantages = View(inputs.Advantages, dtype);
            mask = BoolView(inputs.ResponseMask);
            off = inputs.OffPolicyMask is null ? null : BoolView(inputs.OffPolicyMask);
            reference = inputs.ReferenceLogProbs is null ? null : View(inputs.ReferenceLogProbs, dtype);
            entropy = inputs.Entropy is null ? null : View(inputs.Entropy, dtype);
            traceProbabilities = inputs.TraceProbabilities is null ? null : View(inputs.TraceProbabilities, dtype);
            traceLogProbs = inputs.TraceLogProbs is null ? null : View(inputs.TraceLogProbs, dtype);
            weights = inputs.RolloutWeights is null ? null : View(inputs.RolloutWeights, dtype);
            LogProbsRequireGrad = inputs.LogProbs.requires_grad;
            NeedsEntropyGradient = o.EntropyCoefficient > 0 && inputs.Entropy is not null;
        }

        /// <summary>Whether the entropy takes part in the autograd node (a bonus coefficient &gt; 0 and an entropy tensor).</summary>
        public bool NeedsEntropyGradient { get; }

        /// <summary>Whether the log-probs require grad (otherwise backward returns no gradient for them).</summary>
        public bool LogProbsRequireGrad { get; }

        /// <summary>The cached ∂loss/∂log-probs, (B, T).</summary>
        public Tensor? GradLogProbs { get; private set; }

        /// <summary>The raw metric vector (<see cref="MetricSlots"/>), float64.</summary>
        public Tensor? Metrics => metrics;

        /// <summary>The input views backward reads, in a fixed order (null where an input is absent); saved by the node.</summary>
        public List<Tensor> SavedTensors => [logp, old, advantages, mask, off!, reference!, entropy!, traceProbabilities!, weights!, traceLogProbs!];

        /// <summary>Whether <see cref="Dispose"/> released the state's handles (backward then works on the node's saved tensors).</summary>
        public bool Released { get; private set; }

        private static Tensor View(Tensor t, ScalarType dtype) =>
            (t.dtype == dtype ? t.detach() : t.detach().to_type(dtype)).contiguous().DetachFromDisposeScope();

        private static Tensor BoolView(Tensor t) => TensorGuard.AsBoolMask(t.detach()).contiguous().DetachFromDisposeScope();

        /// <summary>
        /// After <see cref="Dispose"/>: points the state at the node's saved tensors for one backward (handles the caller
        /// disposes after it; unpacking them has already checked their versions).
        /// </summary>
        public void Rebind(List<Tensor> saved)
        {
            logp = saved[0];
            old = saved[1];
            advantages = saved[2];
            mask = saved[3];
            off = saved[4];
            reference = saved[5];
            entropy = saved[6];
            traceProbabilities = saved[7];
            weights = saved[8];
            traceLogProbs = saved[9];
        }

        /// <summary>
        /// Runs the kernel and returns the scalar loss. Optimized at first call: a method called once per training step
        /// would otherwise run as unoptimized tier-0 code for its first 30 calls, and its per-row loops cost more than
        /// the kernel itself.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public Tensor Run()
        {
            ScalarType dtype = logp.dtype;
            int b = (int)logp.shape[0], t = (int)logp.shape[1];
            bool* maskPointer = (bool*)Pointer(mask), offPointer = off is null ? null : (bool*)Pointer(off);
            double? allMaxLogBound = o.AllMaxClip is { } bound ? Math.Log(bound) : null;

            // Per-row counts: response tokens, trace rows, tokens the policy loss keeps. Pooled: no per-step garbage.
            int lanes = MaxLanes();
            int[] lengths = ArrayPool<int>.Shared.Rent(b);
            int[] kept = ArrayPool<int>.Shared.Rent(b);
            bool[] traceRows = ArrayPool<bool>.Shared.Rent(b);
            bool traceInPolicy = o.TraceSequencesInPolicyLoss;
            if ((long)b * t >= ParallelCountTokens)
            {
                // one pass over the masks, on every core: single-threaded it took 5% of a fused step at (256, 4096)
                Parallel.For(0, (b + CountRowsPerTask - 1) / CountRowsPerTask, task =>
                    CountRows(maskPointer, offPointer, logp, t, lanes, traceInPolicy, allMaxLogBound, task * CountRowsPerTask, Math.Min(b, (task + 1) * CountRowsPerTask), lengths, traceRows, kept));
            }
            else
            {
                CountRows(maskPointer, offPointer, logp, t, lanes, traceInPolicy, allMaxLogBound, 0, b, lengths, traceRows, kept);
            }
            long tokens = 0, sequences = 0, policyTokens = 0, policySequences = 0, sftTokens = 0, policyRowTokens = 0;
            for (int i = 0; i < b; i++)
            {
                int n = lengths[i], k = kept[i];
                bool trace = traceRows[i];
                tokens += n;
                sequences += n > 0 ? 1 : 0;
                policyTokens += k;
                policySequences += k > 0 ? 1 : 0;
                sftTokens += trace ? n : 0;
                policyRowTokens += traceInPolicy || !trace ? n : 0;
            }
            double policyNormalizer = normalizers?.Policy ?? Denominator(policyTokens, policySequences, t);
            double regularizerNormalizer = normalizers?.Regularizer ?? Denominator(tokens, sequences, t);
            double[] policyWeights = ArrayPool<double>.Shared.Rent(b);
            double[] rowRegularizerWeights = new double[b]; // kept for the entropy gradient in backward
            bool perToken = o.Aggregation == LossAggregation.SequenceMeanTokenMean;
            for (int i = 0; i < b; i++)
            {
                policyWeights[i] = kept[i] == 0 ? 0 : 1.0 / policyNormalizer / (perToken ? kept[i] : 1);
                rowRegularizerWeights[i] = lengths[i] == 0 ? 0 : 1.0 / regularizerNormalizer / (perToken ? lengths[i] : 1);
            }
            regularizerWeights = rowRegularizerWeights;
            double sftNormalizer = normalizers?.Sft ?? Math.Max(sftTokens, 1);

            Tensor grad = empty(b, t, dtype: dtype).DetachFromDisposeScope(); // every element is written by the kernel
            var settings = new KernelSettings(policyWeights, rowRegularizerWeights, traceRows, lengths, allMaxLogBound, -o.SftCoefficient / sftNormalizer, b, t);
            Accumulator total = dtype == ScalarType.Float32 ? Kernel<float>(grad, settings) : Kernel<double>(grad, settings);
            total.ResponseCount = tokens;
            total.PolicyCount = policyRowTokens;
            total.SftCount = sftTokens;

            ArrayPool<int>.Shared.Return(lengths);
            ArrayPool<int>.Shared.Return(kept);
            ArrayPool<bool>.Shared.Return(traceRows);
            ArrayPool<double>.Shared.Return(policyWeights);

            double sftLoss = o.SftCoefficient > 0 ? total.SftSum / sftNormalizer : 0;
            double loss = total.Policy + o.SftCoefficient * sftLoss
                - (entropy is null ? 0 : o.EntropyCoefficient * total.Entropy)
                + (reference is null ? 0 : o.KlCoefficient * total.Kl);
            GradLogProbs?.Dispose(); // a recomputation's buffer replaces the previous one (autograd holds its own reference)
            GradLogProbs = grad;
            handedOver = false;
            metrics ??= MetricVector(total, loss).DetachFromDisposeScope();
            using var scope = NewDisposeScope();
            // the double loss rounded once to the result's dtype (float32 or float64, what the kernel supports), one tensor
            return (dtype == ScalarType.Float32 ? tensor((float)loss) : tensor(loss, dtype: ScalarType.Float64)).MoveToOuterDisposeScope();
        }

        private double Denominator(long tokenCount, long sequenceCount, long columns) =>
            LossDenominator.Of(o.Aggregation, o.AggregationConstant, tokenCount, sequenceCount, columns);

        private Tensor MetricVector(in Accumulator total, double loss)
        {
            var v = new double[MetricSlots.Count];
            v[MetricSlots.Loss] = loss;
            v[MetricSlots.PolicyLoss] = total.Policy;
            v[MetricSlots.OnLossSum] = total.OnLoss;
            v[MetricSlots.OnCount] = total.OnCount;
            v[MetricSlots.OffLossSum] = total.OffLoss;
            v[MetricSlots.OffCount] = total.OffCount;
            v[MetricSlots.ClippedCount] = total.Clipped;
            v[MetricSlots.ClippedLowerCount] = total.ClippedLower;
            v[MetricSlots.PpoKlSum] = total.PpoKl;
            v[MetricSlots.ScopeCount] = total.ScopeCount;
            v[MetricSlots.OffProbabilitySum] = total.OffProbability;
            v[MetricSlots.OnProbabilitySum] = total.OnProbability;
            v[MetricSlots.RatioSum] = total.RatioSum;
            v[MetricSlots.MaxClampedCount] = total.MaxClamped;
            v[MetricSlots.MinClampedCount] = total.MinClamped;
            v[MetricSlots.AllMaxClippedCount] = total.AllMaxClipped;
            v[MetricSlots.PolicyCount] = total.PolicyCount;
            v[MetricSlots.SftSum] = o.SftCoefficient > 0 ? total.SftSum : 0;
            v[MetricSlots.SftCount] = o.SftCoefficient > 0 ? total.SftCount : 0;
            v[MetricSlots.EntropySum] = entropy is null ? 0 : total.EntropyRaw;
            v[MetricSlots.KlSum] = reference is null ? 0 : total.KlRaw;
            v[MetricSlots.ResponseCount] = total.ResponseCount;
            return tensor(v, dtype: ScalarType.Float64);
        }

        /// <summary>
        /// The gradient for backward: the cached buffer itself when d loss = 1 on the CPU (a plain <c>loss.backward()</c>),
        /// handed over to autograd instead of a scaled copy — no second (B, T) allocation, whose fresh pages cost as much as
        /// the kernel. The buffer then belongs to the caller (it typically becomes <c>LogProbs.grad</c>, and optimizers and
        /// clipping may change it in place), so a later backward through the same graph (retain_graph), or one after the
        /// state released its buffer, recomputes the gradient instead of reusing it.
        /// </summary>
        public Tensor GradientFor(Tensor gradOutput)
        {
            using var scope = NewDisposeScope();
            if (handedOver || GradLogProbs is null)
            {
                Run().Dispose();
            }
            Tensor cached = GradLogProbs!;
            Tensor result;
            if (gradOutput.numel() == 1 && gradOutput.device_type == TorchSharp.DeviceType.CPU && (gradOutput.dtype == ScalarType.Float32 ? gradOutput.item<float>() == 1f : gradOutput.to_type(ScalarType.Float64).item<double>() == 1.0))
            {
                handedOver = true;
                result = cached.alias();
            }
            else
            {
                result = cached * gradOutput.to_type(cached.dtype);
            }
            return Returned(result);
        }

        /// <summary>∂loss/∂H = −coefficient·(row weight) on response tokens, scaled by the output gradient.</summary>
        public Tensor GradEntropy(Tensor gradOutput)
        {
            using var scope = NewDisposeScope();
            Tensor rowWeights = tensor(regularizerWeights!, dtype: ScalarType.Float64).to_type(logp.dtype).unsqueeze(1);
            Tensor gradient = mask.to_type(logp.dtype) * rowWeights * (-o.EntropyCoefficient) * gradOutput.to_type(logp.dtype);
            return Returned(gradient);
        }

        /// <summary>A tensor handed to autograd: TorchSharp keeps our handle, so it is released with the state, not by a scope.</summary>
        private Tensor Returned(Tensor t)
        {
            t.DetachFromDisposeScope();
            returned.Add(t);
            return t;
        }

        /// <summary>
        /// Called at the end of each backward with the node's unpacked saved tensors (handles of this call, disposed
        /// here). After <see cref="Dispose"/>, what this backward created is released too (what it returns at the next
        /// fused step, once autograd has taken it).
        /// </summary>
        public void BackwardDone(List<Tensor> saved)
        {
            foreach (Tensor t in saved)
            {
                t?.Dispose();
            }
            if (!Released)
            {
                return;
            }
            foreach (Tensor t in returned)
            {
                AutogradSafety.Adopt(t);
            }
            returned.Clear();
            GradLogProbs?.Dispose();
            GradLogProbs = null;
        }

        /// <summary>
        /// Releases the state's handles: the inputs' views, the cached gradient (a buffer autograd took lives on in
        /// <c>.grad</c>) and what earlier backward passes returned. A later backward works on the node's saved tensors.
        /// Idempotent.
        /// </summary>
        public void Dispose()
        {
            if (Released)
            {
                return;
            }
            Released = true;
            foreach (Tensor? t in SavedTensors)
            {
                t?.Dispose();
            }
            GradLogProbs?.Dispose(); // a buffer handed to autograd lives on in .grad: this is only the state's handle
            GradLogProbs = null;
            metrics?.Dispose(); // the result's handle; a recomputation in a later backward does not make a new one
            foreach (Tensor t in returned)
            {
                t.Dispose();
            }
            returned.Clear();
        }

        private Accumulator Kernel<T>(Tensor gradT, KernelSettings s)
            where T : unmanaged, IBinaryFloatingPointIeee754<T>
        {
            ClippedSurrogate surrogate = (ClippedSurrogate)o.OnPolicy;
            var args = new KernelArguments<T>
            {
                LogProbs = (T*)Pointer(logp),
                Old = (T*)Pointer(old),
                Advantages = (T*)Pointer(advantages),
                Grad = (T*)Pointer(gradT),
                Mask = (bool*)Pointer(mask),
                Off = off is null ? null : (bool*)Pointer(off),
                Reference = reference is null ? null : (T*)Pointer(reference),
                Entropy = entropy is null ? null : (T*)Pointer(entropy),
                TraceProbabilities = traceProbabilities is null ? null : (T*)Pointer(traceProbabilities),
                TraceLogProbs = traceLogProbs is null ? null : (T*)Pointer(traceLogProbs),
                Weights = weights is null ? null : (T*)Pointer(weights),
                PolicyWeights = s.PolicyWeights,
                RegularizerWeights = s.RegularizerWeights,
                TraceRows = s.TraceRows,
                Lengths = s.Lengths,
                Ratio = Ratio(surrogate.Ratio, out double ratioParameter)!.Value,
                RatioParameter = ratioParameter,
                LowBound = 1 - surrogate.ClipLow,
                HighBound = 1 + surrogate.ClipHigh,
                DualBound = surrogate.DualClip,
                Clip = surrogate.Clip,
                AllScope = o.MetricScope == MetricScope.AllResponseTokens,
                Shape = (o.Shaping as IBuiltInShaping)?.Formula ?? new ShapingFormula(1, 1, 0, 0), // unused with trace probabilities
                MaxClamp = o.OffPolicyMaxClamp,
                MinClamp = o.OffPolicyMinClamp,
                AllMaxLogBound = s.AllMaxLogBound,
                SftGradient = s.SftGradient,
                Sft = o.SftCoefficient > 0,
                PolicyOnTraceRows = o.TraceSequencesInPolicyLoss,
                KlCoefficient = o.KlCoefficient,
                Estimator = o.KlEstimator,
                Lanes = MaxLanes(),
                General = GeneralBodyOverride,
                Rows = s.Rows,
                Columns = s.Columns,
            };
            int blocks = (s.Rows + RowsPerBlock - 1) / RowsPerBlock;
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
    }

    /// <summary>From this many tokens per call (a (32, 1024) batch), the per-row counts run on every core.</summary>
    private const long ParallelCountTokens = 1L << 15;

    /// <summary>Rows per task of the parallel per-row counts.</summary>
    private const int CountRowsPerTask = 16;

    /// <summary>
    /// The per-row counts of rows [<paramref name="from"/>, <paramref name="to"/>): response tokens, whether the row carries a
    /// trace, and the tokens the policy loss keeps (none on a trace row outside the policy loss; with all-max-clip, those with
    /// log p ≤ ln b).
    /// </summary>
    private static void CountRows(bool* mask, bool* off, Tensor logp, int t, int lanes, bool traceInPolicy, double? allMaxLogBound, int from, int to,
        int[] lengths, bool[] traceRows, int[] kept)
    {
        for (int i = from; i < to; i++)
        {
            bool* rowMask = mask + (long)i * t;
            int n = CountRow(rowMask, off is null ? null : off + (long)i * t, t, lanes, out bool trace);
            lengths[i] = n;
            traceRows[i] = trace;
            kept[i] = !traceInPolicy && trace ? 0
                : allMaxLogBound is { } logBound ? CountKept(rowMask, logp, (long)i * t, t, logBound) : n;
        }
    }

    /// <summary>What <see cref="State.Run"/> prepares per call for the kernel.</summary>
    private sealed record KernelSettings(double[] PolicyWeights, double[] RegularizerWeights, bool[] TraceRows, int[] Lengths, double? AllMaxLogBound, double SftGradient, int Rows, int Columns);

    /// <summary>
    /// One pass over a row's masks: the number of true positions in <paramref name="mask"/>, and whether some position is
    /// true in both masks (<paramref name="trace"/>; false when <paramref name="off"/> is null), 64 bytes at a time at 16
    /// float lanes (AVX-512), 32 at 8 (AVX2), byte by byte otherwise; <paramref name="lanes"/> is <see cref="MaxLanes"/>, so
    /// the lane-width override of the tests reaches every loop. Masks hold 0 or 1 (<see cref="TensorGuard.AsBoolMask"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int CountRow(bool* mask, bool* off, int count, int lanes, out bool trace)
    {
        byte* x = (byte*)mask, y = (byte*)off;
        int n = 0, j = 0;
        bool both = false;
        if (lanes >= 16)
        {
            Vector512<byte> any = Vector512<byte>.Zero;
            for (; j + 64 <= count; j += 64)
            {
                Vector512<byte> v = Vector512.Load(x + j);
                n += 64 - BitOperations.PopCount(Vector512.ExtractMostSignificantBits(Vector512.Equals(v, Vector512<byte>.Zero)));
                if (y is not null)
                {
                    any |= v & Vector512.Load(y + j);
                }
            }
            both = any != Vector512<byte>.Zero;
        }
        else if (lanes >= 8)
        {
            Vector256<byte> any = Vector256<byte>.Zero;
            for (; j + 32 <= count; j += 32)
            {
                Vector256<byte> v = Vector256.Load(x + j);
                n += 32 - BitOperations.PopCount(Vector256.ExtractMostSignificantBits(Vector256.Equals(v, Vector256<byte>.Zero)));
                if (y is not null)
                {
                    any |= v & Vector256.Load(y + j);
                }
            }
            both = any != Vector256<byte>.Zero;
        }
        for (; j < count; j++)
        {
            n += mask[j] ? 1 : 0;
            both |= y is not null && mask[j] && off[j];
        }
        trace = both;
        return n;
    }

    /// <summary>Response tokens of a row that all-max-clip keeps: log p ≤ ln b (NaN is kept, as in the composed ops).</summary>
    private static int CountKept(bool* mask, Tensor logp, long offset, int count, double logBound)
    {
        int n = 0;
        if (logp.dtype == ScalarType.Float32)
        {
            float* values = (float*)Pointer(logp) + offset;
            float bound = (float)logBound;
            for (int j = 0; j < count; j++)
            {
                n += mask[j] && !(values[j] > bound) ? 1 : 0;
            }
        }
        else
        {
            double* values = (double*)Pointer(logp) + offset;
            for (int j = 0; j < count; j++)
            {
                n += mask[j] && !(values[j] > logBound) ? 1 : 0;
            }
        }
        return n;
    }
}
