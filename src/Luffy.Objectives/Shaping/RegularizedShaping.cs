using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// LUFFY's regularized importance weight f(p) = p / (p + γ), γ &gt; 0. Its derivative with respect to log p,
/// γ·p / (p + γ)², stays large for low-probability tokens, so rare but correct demonstration tokens keep
/// learning instead of being ignored (plain p has derivative p → 0). f is monotone and bounded by 1/(1 + γ).
/// </summary>
public sealed record RegularizedShaping : IShapingFunction, IBuiltInShaping
{
    /// <summary>The default γ of the LUFFY paper's main run: 0.1.</summary>
    public const double DefaultGamma = 0.1;

    /// <summary>Creates the shaping function p / (p + γ).</summary>
    /// <param name="gamma">γ &gt; 0 and finite. The default is 0.1 (LUFFY); the reference also offers 0.3 and 0.5.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is not a finite number greater than 0.</exception>
    public RegularizedShaping(double gamma = DefaultGamma)
    {
        Gamma = gamma;
    }

    /// <summary>γ, the regularization constant. The default is 0.1.</summary>
    public double Gamma
    {
        get;
        init => field = TensorGuard.Positive(value, nameof(Gamma));
    }

    /// <inheritdoc />
    public string Name => $"regularized(gamma={Gamma})";

    /// <summary>The supremum of f over p ∈ [0, 1]: 1 / (1 + γ), reached at p = 1.</summary>
    public double UpperBound => 1.0 / (1.0 + Gamma);

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs) => Formula.Apply(logProbs);

    /// <summary>Evaluates f(exp(logProb)) for one value in double precision (for documentation, tests and logs).</summary>
    /// <param name="logProb">A log-probability ≤ 0.</param>
    public double Evaluate(double logProb) => Formula.ValueAndDerivative(logProb).Value;

    ShapingFormula IBuiltInShaping.Formula => Formula;

    private ShapingFormula Formula => new(1, 1, Gamma, 0);
}
