using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// The one formula every built-in shaping function is an instance of, f(ℓ) = s·q/(q + γ) (γ &gt; 0) or s·q (γ = 0),
/// plus w·ℓ, with q = e^(k·ℓ) = p^k: regularized (s 1, k 1, γ), identity (1, 1), power (1, k), square root (1, ½),
/// log (s 0, w) and identity + log (1, 1, w). The tensor form (<see cref="Apply"/>), the double form used by the fused
/// kernel's scalar path and by <c>Evaluate</c> (<see cref="ValueAndDerivative"/>), and the fused kernel's SIMD lanes all
/// read these four numbers, so a built-in's formula is written once.
/// </summary>
/// <param name="Scale">s ≥ 0; 0 leaves only the log term.</param>
/// <param name="Exponent">k &gt; 0, the power of p.</param>
/// <param name="Gamma">γ ≥ 0; &gt; 0 makes the rational form.</param>
/// <param name="LogWeight">w, the weight of the log-prob term.</param>
internal readonly record struct ShapingFormula(double Scale, double Exponent, double Gamma, double LogWeight)
{
    /// <summary>f and ∂f/∂ℓ at one log-prob, in double precision.</summary>
    public (double Value, double Derivative) ValueAndDerivative(double logProb)
    {
        double value = 0, derivative = 0;
        if (Scale != 0)
        {
            double q = Exponent == 1 ? Math.Exp(logProb) : Math.Exp(Exponent * logProb);
            if (Gamma != 0)
            {
                double sum = q + Gamma;
                value = Scale == 1 ? q / sum : Scale * q / sum;
                derivative = Scale * Exponent * Gamma * q / (sum * sum);
            }
            else
            {
                value = Scale == 1 ? q : Scale * q;
                derivative = Scale * Exponent * q;
            }
        }
        return LogWeight == 0 ? (value, derivative) : (value + LogWeight * logProb, derivative + LogWeight);
    }

    /// <summary>f element-wise as tensor ops, differentiable in <paramref name="logProbs"/> (autograd gives ∂f/∂ℓ).</summary>
    public Tensor Apply(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        Tensor? result = null;
        if (Scale != 0)
        {
            // q/(q + γ) = σ(k·ℓ − ln γ): one op forward and one (sigmoid's) backward, against exp, add, div and
            // div's two-sided backward
            Tensor scaled = Exponent == 1 ? logProbs : logProbs * Exponent;
            result = Gamma != 0 ? (scaled - Math.Log(Gamma)).sigmoid() : scaled.exp();
            if (Scale != 1)
            {
                result = result * Scale;
            }
        }
        if (LogWeight != 0)
        {
            result = result is null ? logProbs * LogWeight : result + logProbs * LogWeight;
        }
        return (result ?? zeros_like(logProbs)).MoveToOuterDisposeScope();
    }
}
