using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>r = ρ^k = exp(k·clamp(log p − log p_old, −20, 20)) (the reference's <c>on_policy_reshape = "pow"</c>).</summary>
public sealed record PowerRatio : IRatioReshaping
{
    /// <summary>Creates the reshaped ratio.</summary>
    /// <param name="exponent">k &gt; 0 and finite. The default is 0.5 (the reference's <c>on_policy_reshape_pow_exp</c>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="exponent"/> is not a finite number greater than 0.</exception>
    public PowerRatio(double exponent = 0.5)
    {
        Exponent = exponent;
    }

    /// <summary>The exponent k. The default is 0.5.</summary>
    public double Exponent
    {
        get;
        init => field = TensorGuard.Positive(value, nameof(Exponent));
    }

    /// <inheritdoc />
    public string Name => $"ratio^{Exponent}";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs, Tensor oldLogProbs)
    {
        RatioMath.Validate(logProbs, oldLogProbs);
        using var scope = NewDisposeScope();
        return RatioMath.Ratio(logProbs, oldLogProbs, Exponent).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb, double oldLogProb) => Math.Exp(Exponent * Math.Clamp(logProb - oldLogProb, -ExponentialRatio.LogRatioClamp, ExponentialRatio.LogRatioClamp));
}
