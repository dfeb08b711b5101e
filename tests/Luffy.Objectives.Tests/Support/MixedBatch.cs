namespace Luffy.Objectives.Tests.Support;

/// <summary>A host-side (double) loss batch: the input of both the library and the reference computation.</summary>
internal sealed class MixedBatch
{
    public required double[,] LogProbs { get; init; }
    public required double[,] OldLogProbs { get; init; }
    public required double[,] Advantages { get; init; }
    public required bool[,] Mask { get; init; }
    public required bool[,] OffPolicy { get; init; }
    public required double[,] ReferenceLogProbs { get; init; }
    public required double[,] Entropy { get; init; }
    public required double[,] TraceProbabilities { get; init; }
    public required double[,] RolloutWeights { get; init; }
    public required double[,] TraceLogProbs { get; init; }

    public int B => LogProbs.GetLength(0);
    public int T => LogProbs.GetLength(1);

    /// <summary>
    /// Random batch whose rows cycle through four kinds: on-policy, fully off-policy, off-policy prefix followed by
    /// on-policy continuation, and fully padded; lengths are ragged. Padding holds finite garbage.
    /// </summary>
    public static MixedBatch Random(int seed, int b = 8, int t = 24)
    {
        var rng = new Random(seed);
        var logp = new double[b, t];
        var old = new double[b, t];
        var adv = new double[b, t];
        var mask = new bool[b, t];
        var off = new bool[b, t];
        var reference = new double[b, t];
        var entropy = new double[b, t];
        var q = new double[b, t];
        var weights = new double[b, t];
        var stored = new double[b, t];
        var storedRng = new Random(~seed);
        for (int i = 0; i < b; i++)
        {
            int kind = i % 4;
            int length = kind == 3 ? 0 : rng.Next(1, t + 1);
            int prefix = kind switch { 1 => length, 2 => rng.Next(0, length + 1), _ => 0 };
            double a = Normal(rng);
            for (int j = 0; j < t; j++)
            {
                bool real = j < length;
                mask[i, j] = real;
                off[i, j] = real ? j < prefix : rng.Next(2) == 0; // garbage off flags on padding must not matter
                // log-probs mostly in [-6, 0], a few very small ones down to -100.
                double lp = rng.NextDouble() < 0.05 ? -100 * rng.NextDouble() : -6 * rng.NextDouble() * rng.NextDouble();
                logp[i, j] = real ? lp : 5 * Normal(rng);
                old[i, j] = real ? Math.Min(0, lp + 0.4 * Normal(rng)) : 3 * Normal(rng);
                adv[i, j] = real ? a : 7 * Normal(rng);
                reference[i, j] = real ? Math.Min(0, lp + 0.5 * Normal(rng)) : Normal(rng);
                entropy[i, j] = real ? 3 * rng.NextDouble() : 9 * rng.NextDouble();
                q[i, j] = real ? 0.02 + 0.98 * rng.NextDouble() : 5 * Normal(rng); // behaviour probabilities of trace tokens
                weights[i, j] = real ? 0.3 + 2.2 * rng.NextDouble() : 4 * Normal(rng); // truncated IS weights
                // behaviour log-probs of replayed tokens (log w in about [-3, 30]), from their own generator so the other inputs stay as they were
                stored[i, j] = real ? Math.Min(0, Math.Max(-30, lp) + 0.8 * Normal(storedRng)) : 6 * Normal(storedRng);
            }
        }
        return new MixedBatch { LogProbs = logp, OldLogProbs = old, Advantages = adv, Mask = mask, OffPolicy = off, ReferenceLogProbs = reference, Entropy = entropy, TraceProbabilities = q, RolloutWeights = weights, TraceLogProbs = stored };
    }

    public static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>
    /// The batch as the given dtype holds it: every value rounded to float32 for <see cref="ScalarType.Float32"/> (the
    /// batch itself for float64). A float32 test compares against the reference computed from these values, so that
    /// the tolerance covers the kernel's float32 arithmetic only: the rounding of the inputs themselves is amplified by
    /// exp(log p − old) (a log-prob of −100 holds an absolute error of 6e-6, and so its ratio a relative one of 1e-5),
    /// which is the inputs' error, not the loss's.
    /// </summary>
    public MixedBatch RepresentableAs(ScalarType dtype)
    {
        if (dtype != ScalarType.Float32)
        {
            return this;
        }
        static double[,] Round(double[,] values)
        {
            var rounded = (double[,])values.Clone();
            for (int i = 0; i < rounded.GetLength(0); i++)
            {
                for (int j = 0; j < rounded.GetLength(1); j++)
                {
                    rounded[i, j] = (float)rounded[i, j];
                }
            }
            return rounded;
        }
        return new MixedBatch
        {
            LogProbs = Round(LogProbs), OldLogProbs = Round(OldLogProbs), Advantages = Round(Advantages), Mask = Mask, OffPolicy = OffPolicy,
            ReferenceLogProbs = Round(ReferenceLogProbs), Entropy = Round(Entropy), TraceProbabilities = Round(TraceProbabilities),
            RolloutWeights = Round(RolloutWeights), TraceLogProbs = Round(TraceLogProbs),
        };
    }

    /// <summary>The rows [start, start + count) as a new batch.</summary>
    public MixedBatch Rows(int start, int count)
    {
        return new MixedBatch
        {
            LogProbs = Slice(LogProbs, start, count),
            OldLogProbs = Slice(OldLogProbs, start, count),
            Advantages = Slice(Advantages, start, count),
            Mask = Slice(Mask, start, count),
            OffPolicy = Slice(OffPolicy, start, count),
            ReferenceLogProbs = Slice(ReferenceLogProbs, start, count),
            Entropy = Slice(Entropy, start, count),
            TraceProbabilities = Slice(TraceProbabilities, start, count),
            RolloutWeights = Slice(RolloutWeights, start, count),
            TraceLogProbs = Slice(TraceLogProbs, start, count),
        };
    }

    /// <summary>The batch with <paramref name="extra"/> padded columns of garbage appended.</summary>
    public MixedBatch PadColumns(int extra, int seed)
    {
        var rng = new Random(seed);
        return new MixedBatch
        {
            LogProbs = Pad(LogProbs, extra, () => 4 * Normal(rng)),
            OldLogProbs = Pad(OldLogProbs, extra, () => 4 * Normal(rng)),
            Advantages = Pad(Advantages, extra, () => 4 * Normal(rng)),
            Mask = Pad(Mask, extra, () => false),
            OffPolicy = Pad(OffPolicy, extra, () => rng.Next(2) == 0),
            ReferenceLogProbs = Pad(ReferenceLogProbs, extra, () => Normal(rng)),
            Entropy = Pad(Entropy, extra, () => 5 * rng.NextDouble()),
            TraceProbabilities = Pad(TraceProbabilities, extra, () => Normal(rng)),
            RolloutWeights = Pad(RolloutWeights, extra, () => Normal(rng)),
            TraceLogProbs = Pad(TraceLogProbs, extra, () => 3 * Normal(rng)),
        };
    }

    private static T2[,] Slice<T2>(T2[,] source, int start, int count)
    {
        int t = source.GetLength(1);
        var result = new T2[count, t];
        for (int i = 0; i < count; i++)
        {
            for (int j = 0; j < t; j++)
            {
                result[i, j] = source[start + i, j];
            }
        }
        return result;
    }

    private static T2[,] Pad<T2>(T2[,] source, int extra, Func<T2> fill)
    {
        int b = source.GetLength(0), t = source.GetLength(1);
        var result = new T2[b, t + extra];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t + extra; j++)
            {
                result[i, j] = j < t ? source[i, j] : fill();
            }
        }
        return result;
    }

    public int TokenCount()
    {
        int n = 0;
        foreach (bool m in Mask)
        {
            n += m ? 1 : 0;
        }
        return n;
    }

    public int NonEmptySequenceCount()
    {
        int n = 0;
        for (int i = 0; i < B; i++)
        {
            bool any = false;
            for (int j = 0; j < T; j++)
            {
                any |= Mask[i, j];
            }
            n += any ? 1 : 0;
        }
        return n;
    }

    /// <summary>Library inputs built from this batch in the given dtype; the log-probs and entropy require grad.</summary>
    public (PolicyLossInputs Inputs, Tensor LogProbs, Tensor Entropy) ToInputs(ScalarType dtype, Extras extras, LossNormalizers? normalizers = null)
    {
        Tensor logp = Tensors.From(LogProbs, dtype, requiresGrad: true);
        Tensor entropy = Tensors.From(Entropy, dtype, requiresGrad: true);
        var inputs = new PolicyLossInputs
        {
            LogProbs = logp,
            OldLogProbs = Tensors.From(OldLogProbs, dtype),
            Advantages = Tensors.From(Advantages, dtype),
            ResponseMask = Tensors.Mask(Mask),
            OffPolicyMask = Tensors.Mask(OffPolicy),
            ReferenceLogProbs = extras.HasFlag(Extras.Reference) ? Tensors.From(ReferenceLogProbs, dtype) : null,
            Entropy = extras.HasFlag(Extras.Entropy) ? entropy : null,
            TraceProbabilities = extras.HasFlag(Extras.TraceProbabilities) ? Tensors.From(TraceProbabilities, dtype) : null,
            RolloutWeights = extras.HasFlag(Extras.RolloutWeights) ? Tensors.From(RolloutWeights, dtype) : null,
            TraceLogProbs = extras.HasFlag(Extras.TraceLogProbs) ? Tensors.From(TraceLogProbs, dtype) : null,
            Normalizers = normalizers,
        };
        return (inputs, logp, entropy);
    }
}
