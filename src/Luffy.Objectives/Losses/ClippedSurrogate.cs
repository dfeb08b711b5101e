using Luffy.Objectives.Internal;
using Luffy.Objectives.Shaping;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// PPO's clipped surrogate on on-policy tokens (verl's <c>vanilla</c>, LUFFY's on-policy loss), with the reference's
/// ratio reshaping. With r = <see cref="Ratio"/>(log p, log p_old) (default ρ = exp(clamp(log p − log p_old, ±20))):
/// L = max(−A·r, −A·clip(r, 1 − ε_low, 1 + ε_high)), or −A·r when <see cref="Clip"/> is off; with a dual clip c
/// (where A &lt; 0) L = min(L, −A·c). Runs in the fused CPU kernel for the built-in ratios.
/// </summary>
/// <remarks>
/// The LUFFY reference's "upper clip" max(clip_upper_bound, 1 + ε) is <see cref="ClipHigh"/> = max(clip_upper_bound − 1, ε).
/// Metrics: "pg_clipfrac" where the clipped branch wins (A &lt; 0 and r &lt; 1 − ε_low, or A &gt; 0 and r &gt; 1 + ε_high),
/// "pg_clipfrac_lower" where A &lt; 0 and the dual clip is active (r &gt; c).
/// </remarks>
public sealed record ClippedSurrogate : IOnPolicyObjective
{
    /// <summary>Clip the ratio to [1 − <see cref="ClipLow"/>, 1 + <see cref="ClipHigh"/>]. The default is <see langword="true"/>; LUFFY's main run turns it off (<see cref="Unclipped"/>).</summary>
    public bool Clip { get; init; } = true;

    /// <summary>ε_low, in [0, 1). The default is 0.2.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1).</exception>
    public double ClipLow
    {
        get;
        init => field = ClipRange.RatioLow(value, nameof(ClipLow));
    } = 0.2;

    /// <summary>ε_high, finite and ≥ 0. The default is 0.2 ("clip-higher" uses 0.28).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative or not finite.</exception>
    public double ClipHigh
    {
        get;
        init => field = ClipRange.NonNegative(value, nameof(ClipHigh));
    } = 0.2;

    /// <summary>
    /// Dual-clip bound c &gt; 1 (verl's <c>clip_ratio_c</c>; verl uses 3): where A &lt; 0, L = min(L, −A·c), whether or not the
    /// ratio is clipped. The bound is c itself, as in verl. The default is <see langword="null"/> (off).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number greater than 1.</exception>
    public double? DualClip
    {
        get;
        init => field = value is not { } c || (c > 1 && double.IsFinite(c)) ? value : throw new ArgumentOutOfRangeException(nameof(DualClip), value, "DualClip must be a finite number greater than 1 (or null to turn dual-clip off).");
    }

    /// <summary>The importance ratio r. The default is <see cref="ExponentialRatio"/> (PPO's ρ).</summary>
    /// <exception cref="ArgumentNullException">The value is null.</exception>
    public IRatioReshaping Ratio
    {
        get;
        init => field = value ?? throw new ArgumentNullException(nameof(Ratio), "Ratio must be set; ExponentialRatio is PPO's ratio.");
    } = new ExponentialRatio();

    /// <summary>The unclipped surrogate −A·ρ of LUFFY's main run.</summary>
    public static ClippedSurrogate Unclipped { get; } = new() { Clip = false };

    /// <inheritdoc />
    public string Name => (Clip ? $"ppo-clip({ClipLow},{ClipHigh})" : "ppo-unclipped") + (DualClip is { } c ? $"+dual({c})" : "") + (Ratio is ExponentialRatio ? "" : $"[{Ratio.Name}]");

    /// <inheritdoc />
    public bool AppliesRolloutWeights => true;

    /// <summary>Clip ranges set on an unclipped surrogate would change nothing: an error, called by <see cref="PolicyLossOptions.Validate"/>.</summary>
    internal void CheckConsistent()
    {
        if (!Clip && (ClipLow != 0.2 || ClipHigh != 0.2))
        {
            throw new ArgumentException($"Clip is false but ClipLow = {ClipLow} and ClipHigh = {ClipHigh} are set; an unclipped surrogate uses no clip range. Set Clip = true (e.g. ClippedSurrogate.Unclipped with {{ Clip = true, ClipHigh = 0.28 }}) or leave the range at its default.", nameof(ClipHigh));
        }
    }

    /// <inheritdoc />
    public OnPolicyTerms Compute(OnPolicyContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var scope = NewDisposeScope();
        Tensor ratio = TensorGuard.ExtensionOutput(Ratio.Apply(context.LogProbs, context.OldLogProbs), context.LogProbs, $"The ratio reshaping {Ratio.GetType().Name} ({Ratio.Name})");
        Tensor negativeAdvantages = -context.Advantages;
        Tensor unclipped = negativeAdvantages * ratio;
        Tensor value = unclipped;
        Tensor? clipped = null;
        if (Clip)
        {
            // max(−A·r, −A·clip(r)) as a select: where the clipped product wins, r is outside the clip range and the
            // clamp's derivative is 0; elsewhere the two products are equal and torch's max splits the gradient between
            // them, which sums to the unclipped one exactly (halving and doubling are exact). So the clamp needs no
            // backward, and the select's backward is one pass instead of max's and clamp's ten.
            Tensor clippedLoss = negativeAdvantages * ratio.detach().clamp(1 - ClipLow, 1 + ClipHigh);
            clipped = clippedLoss.gt(unclipped);
            value = HostSelect.Where(clipped, clippedLoss, unclipped);
        }
        Tensor? lower = null;
        if (DualClip is { } c)
        {
            Tensor dual = negativeAdvantages * c;
            Tensor negative = context.Advantages.lt(0);
            lower = negative.logical_and(value.gt(dual));
            value = where(negative, minimum(value, dual), value);
        }
        if (context.RolloutWeights is { } weights)
        {
            value = value * weights;
        }
        return new OnPolicyTerms(value.MoveToOuterDisposeScope(), clipped?.MoveToOuterDisposeScope(), lower?.MoveToOuterDisposeScope());
    }
}
