using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>f(p) = p + w·log p: the importance ratio plus a weighted log-likelihood term. Derivative p + w.</summary>
public sealed record IdentityPlusLogShaping : IShapingFunction, IBuiltInShaping
{
    /// <summary>Creates the shaping function p + w·log p.</summary>
    /// <param name="weight">w &gt; 0 and finite. The default is 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="weight"/> is not a finite number greater than 0.</exception>
    public IdentityPlusLogShaping(double weight = 1.0)
    {
        Weight = weight;
    }

    /// <summary>The weight w of the log term. The default is 1.</summary>
    public double Weight
    {
        get;
        init => field = TensorGuard.Positive(value, nameof(Weight));
    }

    /// <inheritdoc />
    public string Name => $"identity+log(w={Weight})";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs) => Formula.Apply(logProbs);

    /// <summary>Evaluates f(exp(logProb)) for one value in double precision (for documentation, tests and logs).</summary>
    /// <param name="logProb">A log-probability ≤ 0.</param>
    public double Evaluate(double logProb) => Formula.ValueAndDerivative(logProb).Value;

    ShapingFormula IBuiltInShaping.Formula => Formula;

    private ShapingFormula Formula => new(1, 1, 0, Weight);
}
