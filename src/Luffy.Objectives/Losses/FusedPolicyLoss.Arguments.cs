namespace Luffy.Objectives.Losses;

internal static unsafe partial class FusedPolicyLoss
{
    /// <summary>Pointers, per-row data and settings of one kernel call.</summary>
    private struct KernelArguments<T>
        where T : unmanaged
    {
        // (B, T) inputs and the gradient output; the optional ones are null when not given
        public T* LogProbs, Old, Advantages, Grad, Reference, Entropy, TraceProbabilities, Weights;
        public bool* Mask, Off;

        // per row: the policy loss's and the regularizers' ∂aggregate/∂L, whether the row carries a trace
        public double[] PolicyWeights, RegularizerWeights;
        public bool[] TraceRows;

        // on-policy objective
        public RatioKind Ratio;
        public double RatioParameter, LowBound, HighBound;
        public double? DualBound;
        public bool Clip, AllScope;

        // off-policy shaping and clamps
        public ShapeKind Shape;
        public double ShapeParameter;
        public double? MaxClamp, MinClamp;

        // extras of the reference implementation and the regularizers
        public double? AllMaxLogBound;
        public double SftGradient, KlCoefficient;
        public bool Sft, PolicyOnTraceRows;
        public KlEstimator Estimator;

        public int Lanes, Rows, Columns;
    }

    /// <summary>Per-block partial sums, reduced in block order. Weighted sums enter the loss; the others are metrics.</summary>
    private struct Accumulator
    {
        public double Policy, Entropy, Kl;
        public double OnLoss, OffLoss, PpoKl, OffProbability, OnProbability, RatioSum, SftSum, EntropyRaw, KlRaw;
        public long OnCount, OffCount, Clipped, ClippedLower, ScopeCount, MaxClamped, MinClamped, AllMaxClipped, PolicyCount, SftCount, ResponseCount;

        public void Add(in Accumulator o)
        {
            Policy += o.Policy;
            Entropy += o.Entropy;
            Kl += o.Kl;
            OnLoss += o.OnLoss;
            OffLoss += o.OffLoss;
            PpoKl += o.PpoKl;
            OffProbability += o.OffProbability;
            OnProbability += o.OnProbability;
            RatioSum += o.RatioSum;
            SftSum += o.SftSum;
            EntropyRaw += o.EntropyRaw;
            KlRaw += o.KlRaw;
            OnCount += o.OnCount;
            OffCount += o.OffCount;
            Clipped += o.Clipped;
            ClippedLower += o.ClippedLower;
            ScopeCount += o.ScopeCount;
            MaxClamped += o.MaxClamped;
            MinClamped += o.MinClamped;
            AllMaxClipped += o.AllMaxClipped;
            PolicyCount += o.PolicyCount;
            SftCount += o.SftCount;
            ResponseCount += o.ResponseCount;
        }
    }
}
