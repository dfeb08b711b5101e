using Luffy.Objectives.Shaping;

namespace Luffy.Objectives.Losses;

internal static unsafe partial class FusedPolicyLoss
{
    /// <summary>Pointers, per-row data and settings of one kernel call.</summary>
    private struct KernelArguments<T>
        where T : unmanaged
    {
        // (B, T) inputs and the gradient output; the optional ones are null when not given
        public T* LogProbs, Old, Advantages, Grad, Reference, Entropy, TraceProbabilities, TraceLogProbs, Weights;
        public bool* Mask, Off;

        // per row: the policy loss's and the regularizers' ∂aggregate/∂L, whether the row carries a trace, its response tokens
        public double[] PolicyWeights, RegularizerWeights;
        public bool[] TraceRows;
        public int[] Lengths;

        // on-policy objective
        public RatioKind Ratio;
        public double RatioParameter, LowBound, HighBound;
        public double? DualBound;
        public bool Clip, AllScope;

        // off-policy shaping and clamps
        public ShapingFormula Shape;
        public double? MaxClamp, MinClamp;

        // extras of the reference implementation and the regularizers
        public double? AllMaxLogBound;
        public double SftGradient, KlCoefficient;
        public bool Sft, PolicyOnTraceRows;
        public KlEstimator Estimator;

        public int Lanes, Rows, Columns;

        // whether every row runs the SIMD body with the code of every option (GeneralBodyOverride), not the body without
        // the options that are not set
        public bool General;
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

    /// <summary>
    /// The built-in ratios and shaping functions as the parameters of two formulas, for the SIMD body:
    /// r = e^(k·clamp(d))·[(p_old + γ)/(p + γ)] + w·d and f = s·p^k [/(p^k + γ)] + w·log p.
    /// </summary>
    private readonly record struct LaneShapes(
        bool RatioHasExp, float RatioExponent, float RatioLogWeight, float RatioGamma,
        float ShapeScale, float ShapeExponent, float ShapeLogWeight, float ShapeGamma)
    {
        public static LaneShapes Of(in KernelArguments<float> a)
        {
            float rp = (float)a.RatioParameter;
            (bool hasExp, float ratioExponent, float ratioLog, float ratioGamma) = a.Ratio switch
            {
                RatioKind.Exponential => (true, 1f, 0f, 0f),
                RatioKind.Log => (false, 1f, 1f, 0f),
                RatioKind.RatioPlusLog => (true, 1f, rp, 0f),
                RatioKind.SquareRoot or RatioKind.Power => (true, rp, 0f, 0f),
                _ => (true, 1f, 0f, rp),
            };
            ShapingFormula f = a.Shape;
            (float scale, float shapeExponent, float shapeLog, float shapeGamma) = ((float)f.Scale, (float)f.Exponent, (float)f.LogWeight, (float)f.Gamma);
            return new LaneShapes(hasExp, ratioExponent, ratioLog, ratioGamma, scale, shapeExponent, shapeLog, shapeGamma);
        }
    }
}
