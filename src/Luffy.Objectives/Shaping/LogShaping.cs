using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// f(p) = w·log p: with advantage A the off-policy loss −A·w·log p is weighted SFT (negative log-likelihood).
/// Its derivative with respect to log p is the constant w.
/// </summary>
public sealed class LogShaping : IShapingFunction
{
    /// <summary>Creates the shaping function w·log p.</summary>
    /// <param name="weight">w &gt; 0 and finite. The default is 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="weight"/> is not a finite number greater than 0.</exception>
    public LogShaping(double weight = 1.0)
    {
        TensorGuard.Positive(weight, nameof(weight));
        Weight = weight;
    }

    /// <summary>The weight w. The default is 1.</summary>
    public double Weight { get; }

    /// <inheritdoc />
    public string Name => $"log(w={Weight})";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        return logProbs * Weight;
    }

    /// <inheritdoc />
    public Tensor DerivativeWithRespectToLogProb(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        return full_like(logProbs, Weight);
    }

    /// <inheritdoc />
    public double Evaluate(double logProb) => Weight * logProb;
}
