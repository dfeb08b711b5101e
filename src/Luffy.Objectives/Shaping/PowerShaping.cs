using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>f(p) = p^k, evaluated as exp(k·log p) so that it is finite and differentiable for every log p ≤ 0.</summary>
public sealed class PowerShaping : IShapingFunction
{
    /// <summary>Creates the shaping function p^k.</summary>
    /// <param name="exponent">k &gt; 0 and finite (k = 0.5 is <see cref="SquareRootShaping"/>, k = 1 is <see cref="IdentityShaping"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="exponent"/> is not a finite number greater than 0.</exception>
    public PowerShaping(double exponent)
    {
        TensorGuard.Positive(exponent, nameof(exponent));
        Exponent = exponent;
    }

    /// <summary>The exponent k.</summary>
    public double Exponent { get; }

    /// <inheritdoc />
    public string Name => $"power(k={Exponent})";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        return (logProbs * Exponent).exp().MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor DerivativeWithRespectToLogProb(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return ((logProbs * Exponent).exp() * Exponent).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb) => Math.Exp(Exponent * logProb);
}
