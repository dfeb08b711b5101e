using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// r = f(p)/f(p_old) with LUFFY's f(x) = x/(x + γ) (the reference's <c>on_policy_reshape = "p_div_p_0.1"</c> and
/// <c>"p_div_p_0.5"</c>; any γ here), evaluated as ρ·(p_old + γ)/(p + γ) with ρ the clamped ratio of
/// <see cref="ExponentialRatio"/>, so that a tiny p_old does not divide 0 by 0. Its derivative with respect to log p is
/// r·γ/(p + γ) (r·(−p/(p + γ)) where the clamp is active).
/// </summary>
public sealed record RegularizedRatio : IRatioReshaping
{
    /// <summary>Creates the reshaped ratio.</summary>
    /// <param name="gamma">γ &gt; 0 and finite. The default is 0.1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="gamma"/> is not a finite number greater than 0.</exception>
    public RegularizedRatio(double gamma = RegularizedShaping.DefaultGamma)
    {
        Gamma = gamma;
    }

    /// <summary>γ. The default is 0.1.</summary>
    public double Gamma
    {
        get;
        init => field = TensorGuard.Positive(value, nameof(Gamma));
    }

    /// <inheritdoc />
    public string Name => $"regularized-ratio(gamma={Gamma})";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs, Tensor oldLogProbs)
    {
        RatioMath.Validate(logProbs, oldLogProbs);
        using var scope = NewDisposeScope();
        Tensor oldProbability = oldLogProbs.detach().exp();
        return (RatioMath.Ratio(logProbs, oldLogProbs) * (oldProbability + Gamma) / (logProbs.exp() + Gamma)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb, double oldLogProb)
    {
        double ratio = Math.Exp(Math.Clamp(logProb - oldLogProb, -ExponentialRatio.LogRatioClamp, ExponentialRatio.LogRatioClamp));
        return ratio * (Math.Exp(oldLogProb) + Gamma) / (Math.Exp(logProb) + Gamma);
    }
}
