using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>What the built-in ratios share: argument checks and the clamped exponential of the log-ratio.</summary>
internal static class RatioMath
{
    public static void Validate(Tensor logProbs, Tensor oldLogProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        TensorGuard.Companion(oldLogProbs, nameof(oldLogProbs), logProbs, nameof(logProbs), "the same shape");
    }

    /// <summary>exp(k·clamp(log p − log p_old, ±20)); a temporary of the caller's dispose scope.</summary>
    public static Tensor Ratio(Tensor logProbs, Tensor oldLogProbs, double exponent = 1.0)
    {
        Tensor clamped = (logProbs - oldLogProbs.detach()).clamp(-ExponentialRatio.LogRatioClamp, ExponentialRatio.LogRatioClamp);
        return (exponent == 1.0 ? clamped : clamped * exponent).exp();
    }
}
