using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>r = log p − log p_old (the reference's <c>on_policy_reshape = "logp"</c>): the log of the ratio, unclamped.</summary>
public sealed record LogRatio : IRatioReshaping
{
    /// <inheritdoc />
    public string Name => "log-ratio";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs, Tensor oldLogProbs)
    {
        RatioMath.Validate(logProbs, oldLogProbs);
        return logProbs - oldLogProbs.detach();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb, double oldLogProb) => logProb - oldLogProb;
}
