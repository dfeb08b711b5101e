using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// GRPO: A_i = (r_i − mean_g) / (std_g + ε) with the unbiased group std, or Dr.GRPO's A_i = r_i − mean_g when
/// <see cref="NormalizeByStd"/> is false (LUFFY's main run). Every member of the group counts, the off-policy
/// trace included (LUFFY). A group of one sample has mean 0 and std 1; a group whose rewards are all equal
/// gets exactly 0.
/// </summary>
public sealed record GroupNormalizedAdvantage : IAdvantageEstimator
{
    /// <summary>Creates the estimator.</summary>
    /// <param name="normalizeByStd">Divide by std_g + ε. The default is <see langword="true"/> (GRPO); LUFFY's main run uses <see langword="false"/>.</param>
    /// <param name="epsilon">ε ≥ 0 added to the std. The default is 1e-6.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="epsilon"/> is negative or not finite.</exception>
    public GroupNormalizedAdvantage(bool normalizeByStd = true, double epsilon = 1e-6)
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
    public string Name => NormalizeByStd ? "grpo" : "grpo-no-std";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(GroupNormalizedAdvantage), index =>
    {
        (Tensor mean, Tensor std) = index.Moments(index.Rewards);
        Tensor centered = index.Rewards - index.Expand(mean);
        Tensor advantages = NormalizeByStd ? centered / (index.Expand(std) + Epsilon) : centered;
        return index.ZeroUniformGroups(advantages);
    });
}
