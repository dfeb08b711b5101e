using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// REINFORCE++ with a group baseline: a_i = r_i − mean_g (a group of one keeps a = r), broadcast to the
/// sequence's response tokens, then whitened over all response tokens of the batch:
/// A = (a − μ)·rsqrt(var + 1e-8) with μ and the unbiased var taken over tokens (so each sequence weighs by its
/// length). The result is constant per sequence and returned per sequence. Needs
/// <see cref="RewardBatch.ResponseMask"/>. Because of the whitening, uniform groups do not stay at exactly 0.
/// </summary>
public sealed record ReinforcePlusPlusBaselineAdvantage : IAdvantageEstimator
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
        return Whiten(centered, variance);
    }, requiresResponseMask: true);

    /// <summary>
    /// centered·rsqrt(variance + 1e-8), evaluated in float32 for half-precision rewards: in float16 the 1e-8 rounds to 0,
    /// and a batch of equal rewards (variance 0) would give 0·∞ = NaN instead of 0.
    /// </summary>
    internal static Tensor Whiten(Tensor centered, Tensor variance)
    {
        if (centered.dtype is not (ScalarType.Float16 or ScalarType.BFloat16))
        {
            return centered * (variance + WhiteningEpsilon).rsqrt();
        }
        using var scope = NewDisposeScope();
        Tensor whitened = centered.to_type(ScalarType.Float32) * (variance.to_type(ScalarType.Float32) + WhiteningEpsilon).rsqrt();
        return whitened.to_type(centered.dtype).MoveToOuterDisposeScope();
    }
}
