using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// GMPO (verl's <c>geo_mean</c>, arXiv 2507.20673): the geometric mean of token ratios with sign-aware clipping in log
/// space. With d = log p − log p_old (unclamped) and s = sign(A):
/// d_c = s·min(s·d, s·clip(d, −ε_low, ε_high)); the sequence ratio exp(Σ_t m·d_c / (Σ_t m + 1e-8)) over the sequence's
/// on-policy tokens m, the sequence advantage Σ_t m·A / (Σ_t m + 1e-8), and the sequence loss
/// ℓ_b = −A_b·ratio_b (rollout weights enter as their geometric mean over the sequence). Every on-policy token of the
/// sequence carries ℓ_b, so seq-mean-token-mean aggregation gives the mean of ℓ_b over sequences
/// (<see cref="PolicyLossOptions.Gmpo"/>); verl's torch.mean also counts empty sequences — pass the number of
/// sequences as the policy normalizer for exactly that. "pg_clipfrac": where the token's log-ratio was clipped and
/// A &gt; 0; "pg_clipfrac_lower": likewise with A &lt; 0. Composed kernel only.
/// </summary>
public sealed record GeometricMeanSurrogate : IOnPolicyObjective
{
    /// <summary>The constant added to the token counts in the sequence means: 1e-8 (verl).</summary>
    public const double CountEpsilon = 1e-8;

    /// <summary>ε_low ≥ 0, the lower bound −ε_low of the clipped log-ratio. The default is 0.2 (verl's clip_ratio_low).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double ClipLow
    {
        get;
        init => field = ClipRange.NonNegative(value, nameof(ClipLow));
    } = 0.2;

    /// <summary>ε_high ≥ 0, the upper bound of the clipped log-ratio. The default is 0.2 (verl's clip_ratio_high).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double ClipHigh
    {
        get;
        init => field = ClipRange.NonNegative(value, nameof(ClipHigh));
    } = 0.2;

    /// <inheritdoc />
    public string Name => $"gmpo({ClipLow},{ClipHigh})";

    /// <summary>Seq-mean-token-mean: the objective is defined per sequence, and verl always aggregates it so.</summary>
    public LossAggregation? RequiredAggregation => LossAggregation.SequenceMeanTokenMean;

    /// <inheritdoc />
    public bool AppliesRolloutWeights => true;

    /// <inheritdoc />
    public OnPolicyTerms Compute(OnPolicyContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var scope = NewDisposeScope();
        Tensor mask = context.OnPolicyMask.to_type(context.LogProbs.dtype);
        Tensor advantages = context.Advantages;
        Tensor d = context.LogProbs - context.OldLogProbs;
        Tensor sign = advantages.sign();
        Tensor clippedLog = d.clamp(-ClipLow, ClipHigh);
        Tensor signed = sign * minimum(sign * d, sign * clippedLog);
        Tensor count = mask.sum(1) + CountEpsilon;
        Tensor ratio = ((signed * mask).sum(1) / count).exp();
        Tensor sequenceAdvantage = (advantages * mask).sum(1) / count;
        Tensor sequenceLoss = -sequenceAdvantage * ratio;
        if (context.RolloutWeights is { } weights)
        {
            sequenceLoss = sequenceLoss * (((weights + 1e-10).log() * mask).sum(1) / count).exp();
        }
        Tensor value = sequenceLoss.unsqueeze(1).expand_as(d).contiguous();
        Tensor clipped = d.ne(clippedLog);
        return new OnPolicyTerms(value.MoveToOuterDisposeScope(), clipped.logical_and(advantages.gt(0)).MoveToOuterDisposeScope(), clipped.logical_and(advantages.lt(0)).MoveToOuterDisposeScope());
    }
}
