namespace Luffy.Objectives.Tests.Support;

/// <summary>
/// An independent double-precision computation of the mixed-policy loss and its gradients, written from
/// shared/docs/objectives.md with plain loops and hand-derived derivatives (no TorchSharp).
/// </summary>
internal static class ReferenceLoss
{
    public sealed record Result(double Loss, double[,] GradLogProbs, double[,] GradEntropy, double OnLoss, double OffLoss, double ClipFraction, double OffRatioMean);

    public static Result Compute(MixedBatch batch, PolicyLossOptions o, bool withReference, bool withEntropy, double? normalizer = null)
    {
        int b = batch.B, t = batch.T;
        double[,] weight = AggregationWeights(batch.Mask, o.Aggregation, normalizer, o.AggregationConstant);
        var gradLogp = new double[b, t];
        var gradEntropy = new double[b, t];
        double loss = 0, onSum = 0, offSum = 0, clipCount = 0, ratioSum = 0;
        int onCount = 0, offCount = 0, scopeCount = 0;
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                if (!batch.Mask[i, j])
                {
                    continue;
                }
                double lp = batch.LogProbs[i, j], a = batch.Advantages[i, j], w = weight[i, j];
                double value, grad;
                bool off = batch.OffPolicy[i, j];
                if (off)
                {
                    (double f, double df) = Shape(o.Shaping, lp);
                    ratioSum += f;
                    if (o.OffPolicyMaxClamp is { } max && f > max)
                    {
                        f = max;
                        df = 0;
                    }
                    if (o.OffPolicyMinClamp is { } min && f < min)
                    {
                        f = min;
                        df = 0;
                    }
                    value = -a * f;
                    grad = -a * df;
                    offSum += value;
                    offCount++;
                }
                else
                {
                    (value, grad, bool clippedActive) = OnPolicy(lp, batch.OldLogProbs[i, j], a, o);
                    onSum += value;
                    onCount++;
                    clipCount += clippedActive ? 1 : 0;
                }
                if (off && o.MetricScope == MetricScope.AllResponseTokens)
                {
                    clipCount += OnPolicy(lp, batch.OldLogProbs[i, j], a, o).ClipActive ? 1 : 0;
                }
                scopeCount += (!off || o.MetricScope == MetricScope.AllResponseTokens) ? 1 : 0;
                loss += w * value;
                gradLogp[i, j] += w * grad;

                if (withEntropy)
                {
                    loss -= o.EntropyCoefficient * w * batch.Entropy[i, j];
                    gradEntropy[i, j] = -o.EntropyCoefficient * w;
                }
                if (withReference)
                {
                    (double kl, double dkl) = Kl(lp, batch.ReferenceLogProbs[i, j], o.KlEstimator);
                    loss += o.KlCoefficient * w * kl;
                    gradLogp[i, j] += o.KlCoefficient * w * dkl;
                }
            }
        }
        return new Result(loss, gradLogp, gradEntropy,
            onCount == 0 ? 0 : onSum / onCount,
            offCount == 0 ? 0 : offSum / offCount,
            scopeCount == 0 ? 0 : clipCount / scopeCount,
            offCount == 0 ? 0 : ratioSum / offCount);
    }

    /// <summary>The PPO surrogate of one token and its derivative with respect to logp.</summary>
    public static (double Value, double Grad, bool ClipActive) OnPolicy(double lp, double old, double a, PolicyLossOptions o)
    {
        double d = lp - old;
        double dc = Math.Clamp(d, -20, 20);
        double ratio = Math.Exp(dc);
        double dRatio = d >= -20 && d <= 20 ? ratio : 0;
        double l1 = -a * ratio, g1 = -a * dRatio;
        double value = l1, grad = g1;
        bool clipActive = false;
        if (o.ClipOnPolicyRatio)
        {
            double lo = 1 - o.ClipLow, hi = 1 + o.ClipHigh;
            double clippedRatio = Math.Clamp(ratio, lo, hi);
            double l2 = -a * clippedRatio;
            double g2 = ratio >= lo && ratio <= hi ? -a * dRatio : 0;
            clipActive = l2 > l1;
            if (l2 > l1)
            {
                value = l2;
                grad = g2;
            }
            else if (l2 == l1)
            {
                grad = 0.5 * (g1 + g2);
            }
        }
        if (o.DualClip is { } c && a < 0)
        {
            double l3 = -a * Math.Max(c, 1 + o.ClipHigh);
            if (l3 < value)
            {
                value = l3;
                grad = 0;
            }
        }
        return (value, grad, clipActive);
    }

    /// <summary>f(exp(lp)) and df/dlp from the formulas in objectives.md.</summary>
    public static (double Value, double Derivative) Shape(IShapingFunction shaping, double lp)
    {
        double p = Math.Exp(lp);
        return shaping switch
        {
            RegularizedShaping r => (p / (p + r.Gamma), r.Gamma * p / ((p + r.Gamma) * (p + r.Gamma))),
            IdentityShaping => (p, p),
            PowerShaping k => (Math.Pow(p, k.Exponent), k.Exponent * Math.Pow(p, k.Exponent)),
            SquareRootShaping => (Math.Sqrt(p), 0.5 * Math.Sqrt(p)),
            LogShaping w => (w.Weight * lp, w.Weight),
            IdentityPlusLogShaping w => (p + w.Weight * lp, p + w.Weight),
            _ => throw new NotSupportedException(shaping.GetType().Name),
        };
    }

    public static (double Value, double Derivative) Kl(double lp, double reference, KlEstimator estimator)
    {
        double d = lp - reference;
        switch (estimator)
        {
            case KlEstimator.K1:
                return (d, 1);
            case KlEstimator.Absolute:
                return (Math.Abs(d), Math.Sign(d));
            case KlEstimator.K2:
                return (0.5 * d * d, d);
            default:
            {
                double kl = reference - lp;
                double value = Math.Exp(kl) - kl - 1;
                return value > 10 ? (10, 0) : (value, 1 - Math.Exp(kl));
            }
        }
    }

    /// <summary>∂(aggregate)/∂L[b, t] for every mode: the aggregate is Σ weight·L.</summary>
    public static double[,] AggregationWeights(bool[,] mask, LossAggregation mode, double? normalizer, double? constant)
    {
        int b = mask.GetLength(0), t = mask.GetLength(1);
        var lengths = new int[b];
        int tokens = 0, sequences = 0;
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                lengths[i] += mask[i, j] ? 1 : 0;
            }
            tokens += lengths[i];
            sequences += lengths[i] > 0 ? 1 : 0;
        }
        var weight = new double[b, t];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                if (!mask[i, j])
                {
                    continue;
                }
                weight[i, j] = mode switch
                {
                    LossAggregation.TokenMean => 1.0 / (normalizer ?? Math.Max(tokens, 1)),
                    LossAggregation.SequenceMeanTokenSum => 1.0 / (normalizer ?? Math.Max(sequences, 1)),
                    LossAggregation.SequenceMeanTokenMean => 1.0 / ((normalizer ?? Math.Max(sequences, 1)) * lengths[i]),
                    _ => 1.0 / (normalizer ?? constant ?? t),
                };
            }
        }
        return weight;
    }
}
