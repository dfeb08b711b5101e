using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// REINFORCE++ with a group baseline: a_i = r_i − mean_g (a group of one keeps a = r), broadcast to the
/// sequence's response tokens, then whitened over all response tokens of the batch:
/// A = (a − μ)·rsqrt(var + 1e-8) with μ and the unbiased var taken over tokens (so each sequence weighs by its
/// length). The result is constant per sequence and returned per sequence. Needs
/// <see cref="RewardBatch.ResponseMask"/>. Because of the whitening, uniform groups do not stay at exactly 0.
/// </summary>
public sealed class ReinforcePlusPlusBaselineAdvantage : IAdvantageEstimator
{
    /// <summary>The constant added to the variance before the reciprocal square root: 1e-8.</summary>
    public const double WhiteningEpsilon = 1e-8;

    /// <inheritdoc />
    public string Name => "reinforce++-baseline";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(ReinforcePlusPlusBaselineAdvantage), index =>
    {
        (Tensor mean, _) = index.Moments(index.Rewards);
        Tensor baseline = index.Rewards - index.Expand(mean);
        Tensor lengths = batch.Lengths()!;
        Tensor tokens = lengths.sum();
        Tensor tokenMean = (baseline * lengths).sum() / tokens.clamp_min(1);
        Tensor centered = baseline - tokenMean;
        Tensor variance = (centered * centered * lengths).sum() / (tokens - 1).clamp_min(1);
        return centered * (variance + WhiteningEpsilon).rsqrt();
    }, requiresResponseMask: true);
}
