using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// LUFFY's regularized importance weight f(p) = p / (p + γ), γ &gt; 0. Its derivative with respect to log p,
/// γ·p / (p + γ)², stays large for low-probability tokens, so rare but correct demonstration tokens keep
/// learning instead of being ignored (plain p has derivative p → 0). f is monotone and bounded by 1/(1 + γ).
/// </summary>
public sealed class RegularizedShaping : IShapingFunction
{
    /// <summary>The default γ of the LUFFY paper's main run: 0.1.</summary>
    public const double DefaultGamma = 0.1;

    /// <summary>Creates the shaping function p / (p + γ).</summary>
    /// <param name="gamma">γ &gt; 0 and finite. The default is 0.1 (LUFFY); the reference also offers 0.3 and 0.5.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is not a finite number greater than 0.</exception>
    public RegularizedShaping(double gamma = DefaultGamma)
    {
        TensorGuard.Positive(gamma, nameof(gamma));
        Gamma = gamma;
    }

    /// <summary>γ, the regularization constant. The default is 0.1.</summary>
    public double Gamma { get; }

    /// <inheritdoc />
    public string Name => $"regularized(gamma={Gamma})";

    /// <summary>The supremum of f over p ∈ [0, 1]: 1 / (1 + γ), reached at p = 1.</summary>
    public double UpperBound => 1.0 / (1.0 + Gamma);

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        Tensor p = logProbs.exp();
        return (p / (p + Gamma)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor DerivativeWithRespectToLogProb(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor p = logProbs.exp();
        Tensor denominator = p + Gamma;
        return (p * Gamma / (denominator * denominator)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb)
    {
        double p = Math.Exp(logProb);
        return p / (p + Gamma);
    }
}
