using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// GSPO (verl's <c>gspo</c>, arXiv 2507.18071): a sequence-level ratio s_b = exp(mean over the sequence's on-policy
/// tokens of (log p − log p_old)) used token-wise in the stop-gradient form
/// s_{b,t} = exp(sg(log s_b) + log p_t − sg(log p_t)), its log clamped at 10;
/// L = max(−A·s, −A·clip(s, 1 − ε_low, 1 + ε_high)). verl always aggregates it with seq-mean-token-mean
/// (<see cref="PolicyLossOptions.Gspo"/>). Composed kernel only.
/// </summary>
public sealed record GroupSequenceSurrogate : IOnPolicyObjective
{
    /// <summary>The clamp of the token-level log-ratio: 10.</summary>
    public const double LogRatioClamp = 10.0;

    /// <summary>ε_low, in [0, 1). The default is 3e-4 (verl's GSPO recipe).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double ClipLow
    {
        get;
        init => field = ClipRange.RatioLow(value, nameof(ClipLow));
    } = 3e-4;

    /// <summary>ε_high, finite and ≥ 0. The default is 4e-4 (verl's GSPO recipe).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double ClipHigh
    {
        get;
        init => field = ClipRange.NonNegative(value, nameof(ClipHigh));
    } = 4e-4;

    /// <inheritdoc />
    public string Name => $"gspo({ClipLow},{ClipHigh})";

    /// <summary>Seq-mean-token-mean: the objective is defined per sequence, and verl always aggregates it so.</summary>
    public LossAggregation? RequiredAggregation => LossAggregation.SequenceMeanTokenMean;

    /// <inheritdoc />
    public bool AppliesRolloutWeights => true;

    /// <inheritdoc />
    public OnPolicyTerms Compute(OnPolicyContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var scope = NewDisposeScope();
        Tensor logp = context.LogProbs;
        Tensor mask = context.OnPolicyMask.to_type(logp.dtype);
        Tensor sequenceLogRatio;
        using (no_grad())
        {
            sequenceLogRatio = ((logp - context.OldLogProbs) * mask).sum(1, keepdim: true) / mask.sum(1, keepdim: true).clamp_min(1);
        }
        Tensor ratio = (logp - logp.detach() + sequenceLogRatio).clamp_max(LogRatioClamp).exp();
        Tensor negativeAdvantages = -context.Advantages;
        Tensor unclipped = negativeAdvantages * ratio;
        Tensor clippedLoss = negativeAdvantages * ratio.clamp(1 - ClipLow, 1 + ClipHigh);
        Tensor value = maximum(unclipped, clippedLoss);
        if (context.RolloutWeights is { } weights)
        {
            value = value * weights;
        }
        return new OnPolicyTerms(value.MoveToOuterDisposeScope(), clippedLoss.gt(unclipped).MoveToOuterDisposeScope());
    }
}
