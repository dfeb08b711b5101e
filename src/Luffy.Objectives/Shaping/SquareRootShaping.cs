using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>f(p) = √p, evaluated as exp(½·log p): finite gradient ½√p even where p → 0 (unlike sqrt's derivative at 0).</summary>
public sealed record SquareRootShaping : IShapingFunction, IBuiltInShaping
{
    /// <inheritdoc />
    public string Name => "sqrt";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs) => Formula.Apply(logProbs);

    /// <summary>Evaluates f(exp(logProb)) for one value in double precision (for documentation, tests and logs).</summary>
    /// <param name="logProb">A log-probability ≤ 0.</param>
    public double Evaluate(double logProb) => Formula.ValueAndDerivative(logProb).Value;

    ShapingFormula IBuiltInShaping.Formula => Formula;

    private ShapingFormula Formula => new(1, 0.5, 0, 0);
}
