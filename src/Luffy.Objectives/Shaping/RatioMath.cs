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
        Tensor difference = logProbs - oldLogProbs.detach();
        // On the CPU a host read costs no device sync: where no |log-ratio| exceeds the bound (nor is NaN), the clamp is
        // the identity in value and gradient (its backward passes the bounds themselves), so its forward pass and the
        // four dispatches of its backward are skipped
        bool clampsNothing = HostScan.Supports(difference) && !HostScan.AnyNaNOrBeyond(difference, ExponentialRatio.LogRatioClamp);
        Tensor clamped = clampsNothing ? difference : difference.clamp(-ExponentialRatio.LogRatioClamp, ExponentialRatio.LogRatioClamp);
        return (exponent == 1.0 ? clamped : clamped * exponent).exp();
    }
}
