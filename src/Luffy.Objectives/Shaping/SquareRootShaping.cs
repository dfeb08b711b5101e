using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>f(p) = √p, evaluated as exp(½·log p): finite gradient ½√p even where p → 0 (unlike sqrt's derivative at 0).</summary>
public sealed class SquareRootShaping : IShapingFunction
{
    /// <inheritdoc />
    public string Name => "sqrt";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        return (logProbs * 0.5).exp().MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor DerivativeWithRespectToLogProb(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return ((logProbs * 0.5).exp() * 0.5).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb) => Math.Exp(0.5 * logProb);
}
