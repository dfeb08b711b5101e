using Luffy.Objectives.Shaping;

namespace Luffy.Objectives.Losses;

/// <summary>
/// Options of <see cref="MixedPolicyLoss"/>. Immutable; derive variants with <c>with</c>. Validated when a
/// <see cref="MixedPolicyLoss"/> is created (<see cref="Validate"/>). The defaults are a standard clipped
/// PPO/GRPO loss with LUFFY's regularized shaping (γ = 0.1) for off-policy tokens and token-mean aggregation;
/// <see cref="LuffyMainRun"/> is the paper's main run.
/// </summary>
public sealed record PolicyLossOptions
{
    /// <summary>Clip the on-policy importance ratio ρ to [1 − <see cref="ClipLow"/>, 1 + <see cref="ClipHigh"/>] (PPO). The default is <see langword="true"/>; LUFFY's main run turns it off.</summary>
    public bool ClipOnPolicyRatio { get; init; } = true;

    /// <summary>ε_low, in [0, 1). The default is 0.2.</summary>
    public double ClipLow { get; init; } = 0.2;

    /// <summary>ε_high, in [0, 1). The default is 0.2 ("clip-higher" uses 0.28).</summary>
    public double ClipHigh { get; init; } = 0.2;

    /// <summary>
    /// Dual-clip constant c &gt; 1: where A &lt; 0 the on-policy loss is min(L_on, −A·c). Applied whether or not the ratio is
    /// clipped. As in the reference implementation the effective bound is max(c, 1 + ε_high). The default is
    /// <see langword="null"/> (off); verl uses 3.
    /// </summary>
    public double? DualClip { get; init; }

    /// <summary>The off-policy shaping function f(p). The default is <see cref="RegularizedShaping"/> with γ = 0.1.</summary>
    public IShapingFunction Shaping { get; init; } = new RegularizedShaping();

    /// <summary>Upper clamp of the shaped value: min(f, max); clamped tokens get zero gradient. The default is <see langword="null"/> (off).</summary>
    public double? OffPolicyMaxClamp { get; init; }

    /// <summary>Lower clamp of the shaped value: max(f, min); clamped tokens get zero gradient. The default is <see langword="null"/> (off).</summary>
    public double? OffPolicyMinClamp { get; init; }

    /// <summary>How token losses become a scalar. The default is <see cref="LossAggregation.TokenMean"/>.</summary>
    public LossAggregation Aggregation { get; init; } = LossAggregation.TokenMean;

    /// <summary>C of <see cref="LossAggregation.SequenceMeanTokenSumNorm"/>, &gt; 0. The default is <see langword="null"/>: the padded response length T of the batch.</summary>
    public double? AggregationConstant { get; init; }

    /// <summary>Entropy bonus coefficient ≥ 0: the loss subtracts coefficient·aggregate(H). The default is 0 (LUFFY: 0.001). Needs <see cref="PolicyLossInputs.Entropy"/> when &gt; 0.</summary>
    public double EntropyCoefficient { get; init; }

    /// <summary>KL penalty coefficient ≥ 0: the loss adds coefficient·aggregate(KL). The default is 0 (LUFFY: no KL). Needs <see cref="PolicyLossInputs.ReferenceLogProbs"/> when &gt; 0.</summary>
    public double KlCoefficient { get; init; }

    /// <summary>The KL estimator. The default is <see cref="KlEstimator.K3"/>.</summary>
    public KlEstimator KlEstimator { get; init; } = KlEstimator.K3;

    /// <summary>Tokens the clip fraction and PPO-KL metrics average over. The default is <see cref="MetricScope.OnPolicyTokens"/> (the reference averages over all response tokens).</summary>
    public MetricScope MetricScope { get; init; } = MetricScope.OnPolicyTokens;

    /// <summary>The implementation to run. The default is <see cref="LossKernel.Auto"/>: fused on CPU, composed elsewhere.</summary>
    public LossKernel Kernel { get; init; } = LossKernel.Auto;

    /// <summary>
    /// LUFFY's main run (Qwen2.5-Math-7B): no on-policy clip, regularized shaping with γ = 0.1, Dr.GRPO aggregation
    /// (<see cref="LossAggregation.SequenceMeanTokenSumNorm"/> with C = T; the paper's T is 8192), entropy 0.001,
    /// no KL, metrics over all response tokens as the reference logs them. Pair it with
    /// <c>GroupNormalizedAdvantage(normalizeByStd: false)</c>.
    /// </summary>
    public static PolicyLossOptions LuffyMainRun { get; } = new()
    {
        ClipOnPolicyRatio = false,
        Shaping = new RegularizedShaping(RegularizedShaping.DefaultGamma),
        Aggregation = LossAggregation.SequenceMeanTokenSumNorm,
        AggregationConstant = null,
        EntropyCoefficient = 0.001,
        KlCoefficient = 0.0,
        MetricScope = MetricScope.AllResponseTokens,
    };

    /// <summary>Throws when an option is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="ArgumentNullException"><see cref="Shaping"/> is null.</exception>
    public void Validate()
    {
        InRange(ClipLow, nameof(ClipLow), 0, 1);
        InRange(ClipHigh, nameof(ClipHigh), 0, 1);
        if (DualClip is { } c && (!(c > 1) || !double.IsFinite(c)))
        {
            throw new ArgumentOutOfRangeException(nameof(DualClip), c, "DualClip must be a finite number greater than 1 (or null to turn dual-clip off).");
        }
        if (Shaping is null)
        {
            throw new ArgumentNullException(nameof(Shaping), "Shaping must be set; use IdentityShaping for no shaping.");
        }
        if (OffPolicyMaxClamp is { } max && !double.IsFinite(max))
        {
            throw new ArgumentOutOfRangeException(nameof(OffPolicyMaxClamp), max, "OffPolicyMaxClamp must be finite (or null).");
        }
        if (OffPolicyMinClamp is { } min && !double.IsFinite(min))
        {
            throw new ArgumentOutOfRangeException(nameof(OffPolicyMinClamp), min, "OffPolicyMinClamp must be finite (or null).");
        }
        if (OffPolicyMaxClamp is { } hi && OffPolicyMinClamp is { } lo && lo > hi)
        {
            throw new ArgumentOutOfRangeException(nameof(OffPolicyMinClamp), lo, $"OffPolicyMinClamp ({lo}) must not exceed OffPolicyMaxClamp ({hi}).");
        }
        if (!Enum.IsDefined(Aggregation))
        {
            throw new ArgumentOutOfRangeException(nameof(Aggregation), Aggregation, "Unknown LossAggregation value.");
        }
        if (AggregationConstant is { } constant && (!(constant > 0) || !double.IsFinite(constant)))
        {
            throw new ArgumentOutOfRangeException(nameof(AggregationConstant), constant, "AggregationConstant must be a finite number greater than 0 (or null for T).");
        }
        if (!(EntropyCoefficient >= 0) || !double.IsFinite(EntropyCoefficient))
        {
            throw new ArgumentOutOfRangeException(nameof(EntropyCoefficient), EntropyCoefficient, "EntropyCoefficient must be a finite number >= 0.");
        }
        if (!(KlCoefficient >= 0) || !double.IsFinite(KlCoefficient))
        {
            throw new ArgumentOutOfRangeException(nameof(KlCoefficient), KlCoefficient, "KlCoefficient must be a finite number >= 0.");
        }
        if (!Enum.IsDefined(KlEstimator))
        {
            throw new ArgumentOutOfRangeException(nameof(KlEstimator), KlEstimator, "Unknown KlEstimator value.");
        }
        if (!Enum.IsDefined(Kernel))
        {
            throw new ArgumentOutOfRangeException(nameof(Kernel), Kernel, "Unknown LossKernel value.");
        }
        if (!Enum.IsDefined(MetricScope))
        {
            throw new ArgumentOutOfRangeException(nameof(MetricScope), MetricScope, "Unknown MetricScope value.");
        }
    }

    private static void InRange(double value, string name, double inclusiveLow, double exclusiveHigh)
    {
        if (!(value >= inclusiveLow && value < exclusiveHigh))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [{inclusiveLow}, {exclusiveHigh}).");
        }
    }
}
