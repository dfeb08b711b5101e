using System.Numerics;
using System.Runtime.CompilerServices;
using Luffy.Objectives.Shaping;

namespace Luffy.Objectives.Losses;

internal static unsafe partial class FusedPolicyLoss
{
    /// <summary>One token in double precision: loss, gradient and metrics (the SIMD paths' tail, and float64 throughout).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScalarToken<T>(in KernelArguments<T> a, int i, long k, ref Accumulator acc)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (!a.Mask[k])
        {
            a.Grad[k] = T.Zero;
            return;
        }
        T lpT = a.LogProbs[k];
        double lp = double.CreateTruncating(lpT);
        bool traceRow = a.TraceRows[i];
        double gradient = 0;
        if (a.PolicyOnTraceRows || !traceRow)
        {
            bool off = traceRow && a.Off[k];
            double adv = double.CreateTruncating(a.Advantages[k]);
            double oldLp = double.CreateTruncating(a.Old[k]);
            double value = OnPolicy(a, lp, oldLp, adv, out double g, out bool clipped, out bool lower);
            if (!off || a.AllScope)
            {
                acc.Clipped += clipped ? 1 : 0;
                acc.ClippedLower += lower ? 1 : 0;
                acc.PpoKl += oldLp - lp;
                acc.ScopeCount++;
            }
            if (off)
            {
                double f, df;
                if (a.TraceProbabilities is not null)
                {
                    double q = double.CreateTruncating(a.TraceProbabilities[k]);
                    f = q is < 0 or > 1 ? double.NaN : Math.Exp(lp) / (q + MixedPolicyLoss.TraceProbabilityEpsilon);
                    df = f;
                }
                else if (a.TraceLogProbs is not null)
                {
                    // ExGRPO: the power/rational part of f takes w = p/π_past (log w = log p − stored; ∂/∂log p = ∂/∂log w),
                    // the log term keeps log p, as the reference's "logp"/"p_logp" reshapes do: w·(log w + stored)
                    double stored = double.CreateTruncating(a.TraceLogProbs[k]);
                    (f, df) = stored > 0 ? (double.NaN, double.NaN) : a.Shape.ValueAndDerivative(lp - stored);
                    f += a.Shape.LogWeight * stored;
                }
                else
                {
                    (f, df) = a.Shape.ValueAndDerivative(lp);
                }
                acc.OffProbability += Math.Exp(lp);
                if (a.MaxClamp is { } hi)
                {
                    if (f > hi)
                    {
                        df = 0;
                    }
                    f = f > hi ? hi : f;
                    acc.MaxClamped += f == hi ? 1 : 0;
                }
                if (a.MinClamp is { } lo)
                {
                    if (f < lo)
                    {
                        df = 0;
                    }
                    f = f < lo ? lo : f;
                    acc.MinClamped += f == lo ? 1 : 0;
                }
                acc.RatioSum += f;
                value = -adv * f;
                g = -adv * df;
            }
            else
            {
                acc.OnProbability += Math.Exp(oldLp);
            }
            if (a.Weights is not null)
            {
                double w = double.CreateTruncating(a.Weights[k]);
                w = w < 0 ? double.NaN : w;
                value *= w;
                g *= w;
            }
            if (double.IsNaN(value))
            {
                g = value; // a NaN loss term gets a NaN gradient, as with autograd
            }
            if (off)
            {
                acc.OffLoss += value;
                acc.OffCount++;
            }
            else
            {
                acc.OnLoss += value;
                acc.OnCount++;
            }
            bool clippedAll = a.AllMaxLogBound is { } bound && lpT > T.CreateTruncating(bound);
            if (clippedAll)
            {
                acc.AllMaxClipped++;
            }
            else
            {
                acc.Policy += a.PolicyWeights[i] * value;
                gradient = a.PolicyWeights[i] * g;
            }
        }
        if (a.Sft && traceRow)
        {
            acc.SftSum -= lp;
            gradient += a.SftGradient;
        }
        double regularizerWeight = a.RegularizerWeights[i];
        if (a.Reference is not null)
        {
            (double kl, double dkl) = Kl(lp, double.CreateTruncating(a.Reference[k]), a.Estimator);
            acc.Kl += regularizerWeight * kl;
            acc.KlRaw += kl;
            gradient += double.IsNaN(kl) && a.KlCoefficient > 0 ? kl : a.KlCoefficient * regularizerWeight * dkl;
        }
        if (a.Entropy is not null)
        {
            double h = double.CreateTruncating(a.Entropy[k]);
            acc.Entropy += regularizerWeight * h;
            acc.EntropyRaw += h;
        }
        a.Grad[k] = T.CreateTruncating(gradient);
    }

    /// <summary>The clipped surrogate of one token as the composed ops compute it (ties split as torch's max/min split them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double OnPolicy<T>(in KernelArguments<T> a, double lp, double old, double adv, out double grad, out bool clipped, out bool lower)
        where T : unmanaged
    {
        double ratio = RatioValue(a.Ratio, a.RatioParameter, lp, old, out double dRatio);
        double l1 = -adv * ratio, g1 = -adv * dRatio;
        double value = l1;
        grad = g1;
        clipped = false;
        lower = false;
        if (a.Clip)
        {
            double clippedRatio = Math.Clamp(ratio, a.LowBound, a.HighBound);
            double l2 = -adv * clippedRatio;
            double g2 = ratio >= a.LowBound && ratio <= a.HighBound ? g1 : 0;
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
        if (a.DualBound is { } c && adv < 0)
        {
            double l3 = -adv * c;
            lower = value > l3;
            if (l3 < value)
            {
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

    /// <summary>The on-policy ratio r(log p, log p_old) and ∂r/∂log p, as the ops of the <see cref="IRatioReshaping"/> built-ins compute them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double RatioValue(RatioKind kind, double parameter, double lp, double old, out double derivative)
    {
        double d = lp - old;
        const double bound = ExponentialRatio.LogRatioClamp;
        bool inside = d >= -bound && d <= bound;
        double clamped = Math.Clamp(d, -bound, bound);
        switch (kind)
        {
            case RatioKind.Exponential:
            {
                double r = Math.Exp(clamped);
                derivative = inside ? r : 0;
                return r;
            }
            case RatioKind.Log:
                derivative = 1;
                return d;
            case RatioKind.RatioPlusLog:
            {
                double rho = Math.Exp(clamped);
                derivative = (inside ? rho : 0) + parameter;
                return rho + parameter * d;
            }
            case RatioKind.SquareRoot:
            case RatioKind.Power:
            {
                double r = Math.Exp(parameter * clamped);
                derivative = inside ? parameter * r : 0;
                return r;
            }
            default:
            {
                double p = Math.Exp(lp), sum = p + parameter;
                double r = Math.Exp(clamped) * (Math.Exp(old) + parameter) / sum;
                derivative = r * ((inside ? 1 : 0) - p / sum);
                return r;
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
}
