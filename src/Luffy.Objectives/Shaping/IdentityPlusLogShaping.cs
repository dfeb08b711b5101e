using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>f(p) = p + w·log p: the importance ratio plus a weighted log-likelihood term. Derivative p + w.</summary>
public sealed class IdentityPlusLogShaping : IShapingFunction
{
    /// <summary>Creates the shaping function p + w·log p.</summary>
    /// <param name="weight">w &gt; 0 and finite. The default is 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="weight"/> is not a finite number greater than 0.</exception>
    public IdentityPlusLogShaping(double weight = 1.0)
    {
        TensorGuard.Positive(weight, nameof(weight));
        Weight = weight;
    }

    /// <summary>The weight w of the log term. The default is 1.</summary>
    public double Weight { get; }

    /// <inheritdoc />
    public string Name => $"identity+log(w={Weight})";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        return (logProbs.exp() + logProbs * Weight).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor DerivativeWithRespectToLogProb(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return (logProbs.exp() + Weight).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb) => Math.Exp(logProb) + Weight * logProb;
}
