using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// f(p) = p: the plain importance ratio with the behaviour probability taken as 1 (no shaping).
/// Its gradient p vanishes for low-probability tokens; use it as the ablation of <see cref="RegularizedShaping"/>.
/// </summary>
public sealed record IdentityShaping : IShapingFunction, IBuiltInShaping
{
    /// <inheritdoc />
    public string Name => "identity";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs) => Formula.Apply(logProbs);

    /// <summary>Evaluates f(exp(logProb)) for one value in double precision (for documentation, tests and logs).</summary>
    /// <param name="logProb">A log-probability ≤ 0.</param>
    public double Evaluate(double logProb) => Formula.ValueAndDerivative(logProb).Value;

    ShapingFormula IBuiltInShaping.Formula => Formula;

    private ShapingFormula Formula => new(1, 1, 0, 0);
}
