using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>Per-token KL estimators between the policy and a reference policy.</summary>
public static class KlDivergence
{
    /// <summary>The bound of the k3 estimator: values are clamped to [−10, 10].</summary>
    public const double K3Clamp = 10.0;

    /// <summary>Estimates KL(πθ ‖ π_ref) per token (differentiable in <paramref name="logProbs"/>).</summary>
    /// <param name="logProbs">Policy log-probs of the sampled tokens, shape (B, T), floating point. Not disposed.</param>
    /// <param name="referenceLogProbs">Reference-policy log-probs, same shape, dtype and device. Not disposed.</param>
    /// <param name="estimator">The estimator. The default is <see cref="KlEstimator.K3"/>.</param>
    /// <returns>A fresh (B, T) tensor in the log-probs' dtype.</returns>
    /// <exception cref="ArgumentException">Shapes, dtypes or devices disagree.</exception>
    public static Tensor Estimate(Tensor logProbs, Tensor referenceLogProbs, KlEstimator estimator = KlEstimator.K3)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        TensorGuard.Companion(referenceLogProbs, nameof(referenceLogProbs), logProbs, nameof(logProbs), "the same shape");
        if (!Enum.IsDefined(estimator))
        {
            throw new ArgumentOutOfRangeException(nameof(estimator), estimator, "Unknown KlEstimator value.");
        }
        using var scope = NewDisposeScope();
        return EstimateUnchecked(logProbs, referenceLogProbs, estimator).MoveToOuterDisposeScope();
    }

    internal static Tensor EstimateUnchecked(Tensor logProbs, Tensor referenceLogProbs, KlEstimator estimator)
    {
        Tensor difference = logProbs - referenceLogProbs;
        switch (estimator)
        {
            case KlEstimator.K1:
                return difference;
            case KlEstimator.Absolute:
                return difference.abs();
            case KlEstimator.K2:
                return difference * difference * 0.5;
            case KlEstimator.K3:
            {
                Tensor kl = referenceLogProbs - logProbs;
                return (kl.exp() - kl - 1).clamp(-K3Clamp, K3Clamp);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(estimator), estimator, "Unknown KlEstimator value.");
        }
    }
}
