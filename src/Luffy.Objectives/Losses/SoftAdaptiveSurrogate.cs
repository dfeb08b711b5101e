using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// SAPO (verl's <c>sapo</c>, arXiv 2511.20347): a smooth sigmoid gate instead of a hard clip,
/// g = σ(τ·(ρ − 1))·4/τ with τ = τ_pos where A &gt; 0 and τ_neg elsewhere, ρ = exp(clamp(log p − log p_old, ±20));
/// L = −g·A. verl always aggregates it with seq-mean-token-mean (<see cref="PolicyLossOptions.Sapo"/>). No clip
/// metrics. Composed kernel only.
/// </summary>
public sealed record SoftAdaptiveSurrogate : IOnPolicyObjective
{
    /// <summary>τ_pos &gt; 0, the gate's temperature where A &gt; 0. The default is 1 (verl).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number greater than 0.</exception>
    public double PositiveTemperature
    {
        get;
        init => field = value > 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(PositiveTemperature), value, "PositiveTemperature must be a finite number greater than 0.");
    } = 1.0;

    /// <summary>τ_neg &gt; 0, the gate's temperature where A ≤ 0. The default is 1.05 (verl).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number greater than 0.</exception>
    public double NegativeTemperature
    {
        get;
        init => field = value > 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(NegativeTemperature), value, "NegativeTemperature must be a finite number greater than 0.");
    } = 1.05;

    /// <inheritdoc />
    public string Name => $"sapo({PositiveTemperature},{NegativeTemperature})";

    /// <inheritdoc />
    public bool AppliesRolloutWeights => true;

    /// <inheritdoc />
    public OnPolicyTerms Compute(OnPolicyContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var scope = NewDisposeScope();
        Tensor ratio = Shaping.RatioMath.Ratio(context.LogProbs, context.OldLogProbs);
        Tensor advantages = context.Advantages;
        Tensor temperature = where(advantages.gt(0), full(1, PositiveTemperature, dtype: ratio.dtype, device: ratio.device), full(1, NegativeTemperature, dtype: ratio.dtype, device: ratio.device));
        Tensor gate = (temperature * (ratio - 1)).sigmoid() * 4 / temperature;
        Tensor value = -gate * advantages;
        if (context.RolloutWeights is { } weights)
        {
            value = value * weights;
        }
        return new OnPolicyTerms(value.MoveToOuterDisposeScope());
    }
}
