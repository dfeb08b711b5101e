using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// GRPO with group statistics from the on-policy members only (LUFFY's "split" estimator): mean_g and the
/// unbiased std_g are taken over the group's on-policy samples and applied to all members, off-policy traces
/// included, so a correct trace in a group the policy never solves gets a large positive advantage.
/// A std of 0 is replaced by 1. A group with fewer than two on-policy samples uses mean 0 and std 1 (a group
/// with none is an error in the reference implementation; here it is treated like a group of one).
/// A group whose rewards are all equal gets exactly 0.
/// </summary>
public sealed class OnPolicyGroupNormalizedAdvantage : IAdvantageEstimator
{
    /// <summary>Creates the estimator.</summary>
    /// <param name="normalizeByStd">Divide by std_g + ε. The default is <see langword="true"/>.</param>
    /// <param name="epsilon">ε ≥ 0 added to the std. The default is 1e-6.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative or not finite.</exception>
    public OnPolicyGroupNormalizedAdvantage(bool normalizeByStd = true, double epsilon = 1e-6)
    {
        TensorGuard.NonNegative(epsilon, nameof(epsilon));
        NormalizeByStd = normalizeByStd;
        Epsilon = epsilon;
    }

    /// <summary>Whether advantages are divided by std_g + ε. The default is <see langword="true"/>.</summary>
    public bool NormalizeByStd { get; }

    /// <summary>ε added to the group std. The default is 1e-6.</summary>
    public double Epsilon { get; }

    /// <inheritdoc />
    public string Name => NormalizeByStd ? "grpo-split" : "grpo-split-no-std";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(OnPolicyGroupNormalizedAdvantage), index =>
    {
        Tensor onPolicy = TensorGuard.AsBoolMask(batch.IsOffPolicy!).logical_not();
        (Tensor mean, Tensor std) = index.Moments(index.Rewards, onPolicy);
        std = where(std.eq(0), ones_like(std), std);
        Tensor centered = index.Rewards - index.Expand(mean);
        Tensor advantages = NormalizeByStd ? centered / (index.Expand(std) + Epsilon) : centered;
        return index.ZeroUniformGroups(advantages);
    }, requiresOffPolicyFlags: true);
}
