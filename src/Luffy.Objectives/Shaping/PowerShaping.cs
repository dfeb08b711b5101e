using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>f(p) = p^k, evaluated as exp(k·log p) so that it is finite and differentiable for every log p ≤ 0.</summary>
public sealed record PowerShaping : IShapingFunction, IBuiltInShaping
{
    /// <summary>Creates the shaping function p^k.</summary>
    /// <param name="exponent">k &gt; 0 and finite (k = 0.5 is <see cref="SquareRootShaping"/>, k = 1 is <see cref="IdentityShaping"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="exponent"/> is not a finite number greater than 0.</exception>
    public PowerShaping(double exponent)
    {
        Exponent = exponent;
    }

    /// <summary>The exponent k.</summary>
    public double Exponent
    {
        get;
        init => field = TensorGuard.Positive(value, nameof(Exponent));
    }

    /// <inheritdoc />
    public string Name => $"power(k={Exponent})";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs) => Formula.Apply(logProbs);

    /// <summary>Evaluates f(exp(logProb)) for one value in double precision (for documentation, tests and logs).</summary>
    /// <param name="logProb">A log-probability ≤ 0.</param>
    public double Evaluate(double logProb) => Formula.ValueAndDerivative(logProb).Value;

    ShapingFormula IBuiltInShaping.Formula => Formula;

    private ShapingFormula Formula => new(1, Exponent, 0, 0);
}
