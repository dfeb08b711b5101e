using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// PPO's importance ratio ρ = p/p_old = exp(clamp(log p − log p_old, −20, 20)) (the clamp is verl's; it keeps the
/// ratio finite, and the gradient is 0 where it is active). The default ratio of every clipped surrogate.
/// </summary>
public sealed record ExponentialRatio : IRatioReshaping
{
    /// <summary>The bound of the log-ratio before the exponential: 20.</summary>
    public const double LogRatioClamp = 20.0;

    /// <inheritdoc />
    public string Name => "ratio";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs, Tensor oldLogProbs)
    {
        RatioMath.Validate(logProbs, oldLogProbs);
        using var scope = NewDisposeScope();
        return RatioMath.Ratio(logProbs, oldLogProbs).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb, double oldLogProb) => Math.Exp(Math.Clamp(logProb - oldLogProb, -LogRatioClamp, LogRatioClamp));
}
