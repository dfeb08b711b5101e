using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>r = √ρ = exp(½·clamp(log p − log p_old, −20, 20)) (the reference's <c>on_policy_reshape = "square_root"</c>).</summary>
public sealed record SquareRootRatio : IRatioReshaping
{
    /// <inheritdoc />
    public string Name => "sqrt-ratio";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs, Tensor oldLogProbs)
    {
        RatioMath.Validate(logProbs, oldLogProbs);
        using var scope = NewDisposeScope();
        return RatioMath.Ratio(logProbs, oldLogProbs, 0.5).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb, double oldLogProb) => Math.Exp(0.5 * Math.Clamp(logProb - oldLogProb, -ExponentialRatio.LogRatioClamp, ExponentialRatio.LogRatioClamp));
}
