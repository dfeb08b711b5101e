using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// r = ρ + w·(log p − log p_old) (the reference's <c>on_policy_reshape = "p_logp"</c>), with ρ the clamped ratio of
/// <see cref="ExponentialRatio"/> and the log term unclamped.
/// </summary>
public sealed record RatioPlusLogRatio : IRatioReshaping
{
    /// <summary>Creates the reshaped ratio.</summary>
    /// <param name="weight">w, finite. The default is 1 (the reference's <c>on_policy_reshape_weight</c>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="weight"/> is not finite.</exception>
    public RatioPlusLogRatio(double weight = 1.0)
    {
        Weight = weight;
    }

    /// <summary>The weight w of the log-ratio. The default is 1.</summary>
    public double Weight
    {
        get;
        init => field = TensorGuard.Finite(value, nameof(Weight));
    }

    /// <inheritdoc />
    public string Name => $"ratio+log-ratio(w={Weight})";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs, Tensor oldLogProbs)
    {
        RatioMath.Validate(logProbs, oldLogProbs);
        using var scope = NewDisposeScope();
        Tensor d = logProbs - oldLogProbs.detach();
        return (RatioMath.Ratio(logProbs, oldLogProbs) + d * Weight).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb, double oldLogProb)
    {
        double d = logProb - oldLogProb;
        return Math.Exp(Math.Clamp(d, -ExponentialRatio.LogRatioClamp, ExponentialRatio.LogRatioClamp)) + Weight * d;
    }
}
