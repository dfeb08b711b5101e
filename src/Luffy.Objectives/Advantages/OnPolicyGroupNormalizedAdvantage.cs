using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// GRPO with group statistics from the on-policy members only (LUFFY's "split" estimator): mean_g and the
/// unbiased std_g are taken over the group's on-policy samples and applied to all members, off-policy traces
/// included, so a correct trace in a group the policy never solves gets a large positive advantage.
/// A std of 0 is replaced by 1 (when the on-policy rewards are all equal, their mean is taken exactly, so an all-equal
/// group gets exactly 0 and a trace that differs gets (r − mean)/(1 + ε)). A group with one on-policy sample uses mean 0
/// and std 1, for all its members (the reference implementation's rule). A group with no on-policy sample is an error
/// in the reference; here it is treated like a group of one (mean 0, std 1).
/// </summary>
public sealed record OnPolicyGroupNormalizedAdvantage : IAdvantageEstimator
{
    /// <summary>Creates the estimator.</summary>
    /// <param name="normalizeByStd">Divide by std_g + ε. The default is <see langword="true"/>.</param>
    /// <param name="epsilon">ε ≥ 0 added to the std. The default is 1e-6.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative or not finite.</exception>
    public OnPolicyGroupNormalizedAdvantage(bool normalizeByStd = true, double epsilon = 1e-6)
    {
        NormalizeByStd = normalizeByStd;
        Epsilon = epsilon;
    }

    /// <summary>Whether advantages are divided by std_g + ε. The default is <see langword="true"/>.</summary>
    public bool NormalizeByStd { get; init; }

    /// <summary>ε added to the group std. The default is 1e-6.</summary>
    public double Epsilon
    {
        get;
        init => field = TensorGuard.NonNegative(value, nameof(Epsilon));
    }

    /// <inheritdoc />
    public string Name => NormalizeByStd ? "grpo-split" : "grpo-split-no-std";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(OnPolicyGroupNormalizedAdvantage), index =>
    {
        Tensor onPolicy = TensorGuard.AsBoolMask(batch.IsOffPolicy!).logical_not();
        (Tensor mean, Tensor std) = index.Moments(index.Rewards, onPolicy);
        // equal on-policy rewards: their mean exactly (a float mean of equal values can miss by an ulp) and std 0 -> 1
        (Tensor max, Tensor min) = index.Extremes(index.Rewards, onPolicy);
        Tensor equal = max.eq(min).logical_and(index.Sum(onPolicy.to_type(index.DType)).ge(2));
        mean = where(equal, max, mean);
        std = where(equal.logical_or(std.eq(0)), ones_like(std), std);
        Tensor centered = index.Rewards - index.Expand(mean);
        return NormalizeByStd ? centered / (index.Expand(std) + Epsilon) : centered;
    }, requiresOffPolicyFlags: true);
}
