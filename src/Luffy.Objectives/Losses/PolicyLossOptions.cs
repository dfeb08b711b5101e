using Luffy.Objectives.Shaping;

namespace Luffy.Objectives.Losses;

/// <summary>
/// Options of <see cref="MixedPolicyLoss"/>: which objective trains the on-policy tokens, how the off-policy (trace)
/// tokens are shaped, the reference implementation's extra options, aggregation and regularizers. Immutable; derive
/// variants with <c>with</c>. Validated when a <see cref="MixedPolicyLoss"/> is created (<see cref="Validate"/>); the
/// objectives validate their own settings when they are set. The defaults are a standard clipped PPO/GRPO loss with
/// LUFFY's regularized shaping (γ = 0.1) for off-policy tokens and token-mean aggregation; <see cref="LuffyMainRun"/> is
/// the paper's main run. The pieces compose: <c>Gspo with { EntropyCoefficient = 0.001 }</c> is GSPO on the on-policy
/// tokens with LUFFY's shaping (the default of every option set) on the trace tokens and LUFFY's entropy bonus. A
/// combination the references never use is refused by <see cref="Validate"/> (e.g. a sequence-level objective under
/// another aggregation than its own, see <see cref="AllowAggregationMismatch"/>; a setting that would change nothing).
/// </summary>
public sealed record PolicyLossOptions
{
    /// <summary>The on-policy token objective. The default is <see cref="ClippedSurrogate"/> with ε = 0.2 (PPO/GRPO).</summary>
    public IOnPolicyObjective OnPolicy { get; init; } = new ClippedSurrogate();

    /// <summary>The off-policy shaping function f(p). The default is <see cref="RegularizedShaping"/> with γ = 0.1.</summary>
    public IShapingFunction Shaping { get; init; } = new RegularizedShaping();

    /// <summary>
    /// Upper clamp of the off-policy ratio: min(f, max); clamped tokens get zero gradient. Must be &gt; 0 with a shaping
    /// whose values are ≥ 0 (all built-ins but the log shapings) and with trace probabilities. The default is <see langword="null"/> (off).
    /// </summary>
    public double? OffPolicyMaxClamp { get; init; }

    /// <summary>Lower clamp of the off-policy ratio: max(f, min); clamped tokens get zero gradient. The default is <see langword="null"/> (off).</summary>
    public double? OffPolicyMinClamp { get; init; }

    /// <summary>
    /// The reference's <c>all_max_clip</c> b in (0, 1): tokens (on- and off-policy) whose current probability p exceeds b
    /// (log p &gt; ln b) leave the policy loss and its normalizer; the metrics, the entropy bonus and the KL penalty keep
    /// them, as in the reference. With <see cref="PolicyLossInputs.Normalizers"/> the given policy normalizer is used as
    /// is (the kept count is known only after the forward pass). The default is <see langword="null"/> (off).
    /// </summary>
    public double? AllMaxClip { get; init; }

    /// <summary>
    /// λ ≥ 0 of the SFT loss added to the policy loss (LUFFY's "RL w/ SFT loss" baseline, the reference's
    /// <c>sft_loss_coef</c>): λ·mean(−log p) over the response tokens of every sequence that carries an off-policy
    /// trace (the reference's rows with any prefix token; for whole traces these are exactly the trace tokens). The default is 0.
    /// </summary>
    public double SftCoefficient { get; init; }

    /// <summary>
    /// Whether sequences that carry a trace take part in the policy loss. The default is <see langword="true"/> (LUFFY: their
    /// trace tokens are shaped, their own continuation is on-policy). <see langword="false"/> is the reference's
    /// multi-task baseline (<c>use_sft_multitask_loss</c>, see <see cref="RlWithSftLoss"/>): such sequences leave the policy
    /// loss, its normalizer and its metrics, and learn only through the SFT term.
    /// </summary>
    public bool TraceSequencesInPolicyLoss { get; init; } = true;

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

    /// <summary>Tokens the clip fractions and PPO-KL metrics average over. The default is <see cref="MetricScope.OnPolicyTokens"/> (the reference averages over all response tokens).</summary>
    public MetricScope MetricScope { get; init; } = MetricScope.OnPolicyTokens;

    /// <summary>
    /// Lets a sequence-level objective (<see cref="IOnPolicyObjective.RequiredAggregation"/>: GSPO, GMPO) run under
    /// another <see cref="Aggregation"/> than the one it is defined with. The default is <see langword="false"/>: such
    /// options are rejected by <see cref="Validate"/>, since e.g. GSPO under seq-mean-token-sum-norm or GMPO under
    /// token-mean becomes length-weighted, which no reference implementation does.
    /// </summary>
    public bool AllowAggregationMismatch { get; init; }

    /// <summary>The implementation to run. The default is <see cref="LossKernel.Auto"/>: fused where it applies, composed elsewhere; the result reports which ran.</summary>
    public LossKernel Kernel { get; init; } = LossKernel.Auto;

    /// <summary>
    /// LUFFY's main run (Qwen2.5-Math-7B): no on-policy clip, regularized shaping with γ = 0.1, Dr.GRPO aggregation
    /// (<see cref="LossAggregation.SequenceMeanTokenSumNorm"/> with C = T; the paper's T is 8192), entropy 0.001,
    /// no KL, metrics over all response tokens as the reference logs them. Pair it with
    /// <c>GroupNormalizedAdvantage(normalizeByStd: false)</c>.
    /// </summary>
    public static PolicyLossOptions LuffyMainRun { get; } = new()
    {
        OnPolicy = ClippedSurrogate.Unclipped,
        Shaping = new RegularizedShaping(RegularizedShaping.DefaultGamma),
        Aggregation = LossAggregation.SequenceMeanTokenSumNorm,
        AggregationConstant = null,
        EntropyCoefficient = 0.001,
        KlCoefficient = 0.0,
        MetricScope = MetricScope.AllResponseTokens,
    };

    /// <summary>
    /// ExGRPO's replay phase (the official <c>run_exgrpo.sh</c>): LUFFY's main run — no on-policy clip, f(w) = w/(w + γ) with
    /// γ = 0.1, Dr.GRPO aggregation with C = T, entropy 0.001, no KL, metrics over all response tokens — applied to replayed
    /// trajectories through <see cref="PolicyLossInputs.TraceLogProbs"/> (w = p/π_past, the stored behaviour
    /// probability). Pair it with <c>GroupNormalizedAdvantage(normalizeByStd: false)</c>; before replay starts use
    /// <see cref="ExGrpoWarmUp"/>.
    /// </summary>
    public static PolicyLossOptions ExGrpo { get; } = LuffyMainRun;

    /// <summary>ExGRPO's warm-up, before the replay phase: <see cref="ExGrpo"/> with PPO's clip ε = 0.2 on the on-policy tokens (ratio clipped to [0.8, 1.2]).</summary>
    public static PolicyLossOptions ExGrpoWarmUp { get; } = LuffyMainRun with { OnPolicy = new ClippedSurrogate() };

    /// <summary>GSPO as verl runs it: <see cref="GroupSequenceSurrogate"/> (ε 3e-4 / 4e-4), seq-mean-token-mean, metrics over all response tokens.</summary>
    public static PolicyLossOptions Gspo { get; } = new()
    {
        OnPolicy = new GroupSequenceSurrogate(),
        Aggregation = LossAggregation.SequenceMeanTokenMean,
        MetricScope = MetricScope.AllResponseTokens,
    };

    /// <summary>SAPO as verl runs it: <see cref="SoftAdaptiveSurrogate"/> (τ 1 / 1.05), seq-mean-token-mean, metrics over all response tokens.</summary>
    public static PolicyLossOptions Sapo { get; } = new()
    {
        OnPolicy = new SoftAdaptiveSurrogate(),
        Aggregation = LossAggregation.SequenceMeanTokenMean,
        MetricScope = MetricScope.AllResponseTokens,
    };

    /// <summary>GMPO as verl runs it (<c>geo_mean</c>): <see cref="GeometricMeanSurrogate"/> (ε 0.2 / 0.2), the mean of the sequence losses, metrics over all response tokens.</summary>
    public static PolicyLossOptions Gmpo { get; } = new()
    {
        OnPolicy = new GeometricMeanSurrogate(),
        Aggregation = LossAggregation.SequenceMeanTokenMean,
        MetricScope = MetricScope.AllResponseTokens,
    };

    /// <summary>GRPO as verl runs it (<c>vanilla</c>): PPO's clipped surrogate with ε = 0.2, token-mean, metrics over all response tokens. The defaults of a new <see cref="PolicyLossOptions"/> but for the metric scope.</summary>
    public static PolicyLossOptions Grpo { get; } = new() { MetricScope = MetricScope.AllResponseTokens };

    /// <summary>Dr.GRPO: PPO's clipped surrogate with ε = 0.2, seq-mean-token-sum-norm with C = T (pair it with advantages without std normalization, as <c>Recipes.DrGrpo</c> does).</summary>
    public static PolicyLossOptions DrGrpo { get; } = Grpo with { Aggregation = LossAggregation.SequenceMeanTokenSumNorm };

    /// <summary>CISPO as verl runs it (<c>cispo</c>): <see cref="ClippedImportanceWeightObjective"/>, token-mean, metrics over all response tokens.</summary>
    public static PolicyLossOptions Cispo { get; } = Grpo with { OnPolicy = new ClippedImportanceWeightObjective() };

    /// <summary>GPG as verl runs it (<c>gpg</c>): <see cref="PolicyGradientObjective"/> (−A·log p), token-mean, metrics over all response tokens.</summary>
    public static PolicyLossOptions Gpg { get; } = Grpo with { OnPolicy = new PolicyGradientObjective() };

    /// <summary>
    /// The reference's "RL w/ SFT loss" baseline: the on-policy GRPO/PPO loss on sequences without a trace plus
    /// λ·mean(−log p) over the sequences that carry one (<see cref="SftCoefficient"/>, <see cref="TraceSequencesInPolicyLoss"/> off).
    /// </summary>
    /// <param name="sftCoefficient">λ ≥ 0. The default is 1 (the reference's <c>sft_loss_coef</c>).</param>
    /// <param name="basis">The options to start from. The default is <see langword="null"/>: <see cref="LuffyMainRun"/>.</param>
    /// <returns>The options.</returns>
    public static PolicyLossOptions RlWithSftLoss(double sftCoefficient = 1.0, PolicyLossOptions? basis = null) =>
        (basis ?? LuffyMainRun) with { SftCoefficient = sftCoefficient, TraceSequencesInPolicyLoss = false };

    /// <summary>Throws when an option is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="ArgumentNullException"><see cref="OnPolicy"/> or <see cref="Shaping"/> is null.</exception>
    public void Validate()
    {
        if (OnPolicy is null)
        {
            throw new ArgumentNullException(nameof(OnPolicy), "OnPolicy must be set; ClippedSurrogate is PPO's objective.");
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
        if (OffPolicyMaxClamp is { } ceiling && ceiling <= 0 && Shaping is RegularizedShaping or IdentityShaping or PowerShaping or SquareRootShaping)
        {
            throw new ArgumentOutOfRangeException(nameof(OffPolicyMaxClamp), ceiling,
                $"OffPolicyMaxClamp is {ceiling} but {Shaping.Name} takes values >= 0: every off-policy token would be clamped and get no gradient. Use a bound > 0 (or null).");
        }
        if (AllMaxClip is { } b && (!(b > 0) || !(b < 1)))
        {
            throw new ArgumentOutOfRangeException(nameof(AllMaxClip), b,
                "AllMaxClip must be a probability bound in (0, 1) (or null): tokens with p > b leave the policy loss, so a bound of 1 or more removes none.");
        }
        if (!(SftCoefficient >= 0) || !double.IsFinite(SftCoefficient))
        {
            throw new ArgumentOutOfRangeException(nameof(SftCoefficient), SftCoefficient, "SftCoefficient must be a finite number >= 0.");
        }
        if (!Enum.IsDefined(Aggregation))
        {
            throw new ArgumentOutOfRangeException(nameof(Aggregation), Aggregation, "Unknown LossAggregation value.");
        }
        if (AggregationConstant is { } constant && (!(constant > 0) || !double.IsFinite(constant)))
        {
            throw new ArgumentOutOfRangeException(nameof(AggregationConstant), constant, "AggregationConstant must be a finite number greater than 0 (or null for T).");
        }
        if (AggregationConstant is { } unused && Aggregation != LossAggregation.SequenceMeanTokenSumNorm)
        {
            throw new ArgumentException($"AggregationConstant is {unused} but Aggregation is {Aggregation}; the constant C is used only by SequenceMeanTokenSumNorm. Remove it or choose that aggregation.", nameof(AggregationConstant));
        }
        if (OnPolicy.RequiredAggregation is { } required && required != Aggregation && !AllowAggregationMismatch)
        {
            throw new ArgumentException(
                $"{OnPolicy.Name} is defined with Aggregation = {required} but the options aggregate with {Aggregation}; set Aggregation = LossAggregation.{required} (or AllowAggregationMismatch = true to run it otherwise on purpose).", nameof(Aggregation));
        }
        if (!TraceSequencesInPolicyLoss && SftCoefficient == 0)
        {
            throw new ArgumentException("TraceSequencesInPolicyLoss is false but SftCoefficient is 0: sequences that carry a trace would leave the policy loss and learn nothing. Set SftCoefficient > 0 (the RL w/ SFT baseline, RlWithSftLoss) or keep them in the policy loss.", nameof(TraceSequencesInPolicyLoss));
        }
        if (OnPolicy is ClippedSurrogate surrogate)
        {
            surrogate.CheckConsistent();
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
}
