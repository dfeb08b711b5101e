using Luffy.Objectives.Internal;
using Luffy.Objectives.Shaping;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// CISPO (verl's <c>cispo</c>, arXiv 2506.13585): the clipped importance weight is detached and multiplies a REINFORCE
/// term, L = −sg(clip(ρ, 1 − ε_low, 1 + ε_high))·A·log p with ρ = exp(clamp(log p − log p_old, ±20)), so clipped tokens
/// keep their gradient. "pg_clipfrac": where the clip changed ρ. Composed kernel only.
/// </summary>
public sealed record ClippedImportanceWeightObjective : IOnPolicyObjective
{
    /// <summary>ε_low, in [0, 1). The default is 0.2 (verl's clip_ratio_low).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double ClipLow
    {
        get;
        init => field = ClipRange.RatioLow(value, nameof(ClipLow));
    } = 0.2;

    /// <summary>ε_high, finite and ≥ 0. The default is 0.2 (verl's clip_ratio_high).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double ClipHigh
    {
        get;
        init => field = ClipRange.NonNegative(value, nameof(ClipHigh));
    } = 0.2;

    /// <inheritdoc />
    public string Name => $"cispo({ClipLow},{ClipHigh})";

    /// <inheritdoc />
    public bool AppliesRolloutWeights => true;

    /// <inheritdoc />
    public OnPolicyTerms Compute(OnPolicyContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var scope = NewDisposeScope();
        Tensor ratio;
        Tensor weight;
        using (no_grad())
        {
            ratio = RatioMath.Ratio(context.LogProbs.detach(), context.OldLogProbs);
            weight = ratio.clamp(1 - ClipLow, 1 + ClipHigh);
        }
        Tensor value = -weight * context.Advantages * context.LogProbs;
        if (context.RolloutWeights is { } weights)
        {
            value = value * weights;
        }
        return new OnPolicyTerms(value.MoveToOuterDisposeScope(), ratio.ne(weight).MoveToOuterDisposeScope());
    }
}
