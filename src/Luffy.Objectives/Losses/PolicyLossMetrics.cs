namespace Luffy.Objectives.Losses;

/// <summary>
/// Host-side metrics of one loss step, named as the reference implementations log them. Every mean is kept as a sum
/// and a count, so that <see cref="Combine"/> gives exactly what the full batch would report from its micro-batches.
/// Means over an empty token set are 0.
/// </summary>
public sealed class PolicyLossMetrics
{
    private readonly double[] raw;

    internal PolicyLossMetrics(double[] raw) => this.raw = raw;

    private double Mean(int sum, int count) => raw[count] == 0 ? 0 : raw[sum] / raw[count];

    /// <summary>The total loss: policy loss + λ·SFT − entropy bonus + KL penalty. Combined by summing (right when each micro-batch used the batch's <see cref="LossNormalizers"/>).</summary>
    public double Loss => raw[MetricSlots.Loss];

    /// <summary>The aggregated policy-gradient loss alone ("pg_loss"). Combined by summing.</summary>
    public double PolicyLoss => raw[MetricSlots.PolicyLoss];

    /// <summary>Mean on-policy token loss over on-policy tokens ("on_pg_loss"; rollout weights included).</summary>
    public double OnPolicyLoss => Mean(MetricSlots.OnLossSum, MetricSlots.OnCount);

    /// <summary>Mean off-policy token loss over off-policy tokens ("off_pg_loss"; rollout weights included).</summary>
    public double OffPolicyLoss => Mean(MetricSlots.OffLossSum, MetricSlots.OffCount);

    /// <summary>Share of tokens where the objective's clip is active ("pg_clipfrac", LUFFY's on_pg_clipfrac; scope per <see cref="PolicyLossOptions.MetricScope"/>).</summary>
    public double ClipFraction => Mean(MetricSlots.ClippedCount, MetricSlots.ScopeCount);

    /// <summary>Share of tokens where the lower (dual) clip is active ("pg_clipfrac_lower"; same scope).</summary>
    public double ClipFractionLower => Mean(MetricSlots.ClippedLowerCount, MetricSlots.ScopeCount);

    /// <summary>Mean of old − log p ("ppo_kl"; same scope).</summary>
    public double PpoKl => Mean(MetricSlots.PpoKlSum, MetricSlots.ScopeCount);

    /// <summary>Mean p = exp(log p) over off-policy tokens ("off_policy_prob").</summary>
    public double OffPolicyProbability => Mean(MetricSlots.OffProbabilitySum, MetricSlots.OffCount);

    /// <summary>Mean exp(old) over on-policy tokens ("on_policy_prob").</summary>
    public double OnPolicyProbability => Mean(MetricSlots.OnProbabilitySum, MetricSlots.OnCount);

    /// <summary>Mean off-policy ratio after the min/max clamps over off-policy tokens ("off_ratio_mean", as the reference logs it).</summary>
    public double OffPolicyRatioMean => Mean(MetricSlots.RatioSum, MetricSlots.OffCount);

    /// <summary>Share of off-policy tokens whose clamped ratio equals the max clamp, i.e. f ≥ max ("off_ratio_max_clip_frac").</summary>
    public double OffPolicyMaxClampFraction => Mean(MetricSlots.MaxClampedCount, MetricSlots.OffCount);

    /// <summary>Share of off-policy tokens whose clamped ratio equals the min clamp, i.e. f ≤ min ("off_ratio_min_clip_frac").</summary>
    public double OffPolicyMinClampFraction => Mean(MetricSlots.MinClampedCount, MetricSlots.OffCount);

    /// <summary>Share of policy tokens removed by <see cref="PolicyLossOptions.AllMaxClip"/> ("all_max_clip_frac").</summary>
    public double AllMaxClipFraction => Mean(MetricSlots.AllMaxClippedCount, MetricSlots.PolicyCount);

    /// <summary>Mean −log p over the SFT tokens ("sft_loss", before λ; 0 without <see cref="PolicyLossOptions.SftCoefficient"/>).</summary>
    public double SftLoss => Mean(MetricSlots.SftSum, MetricSlots.SftCount);

    /// <summary>Mean entropy per response token ("entropy"), whatever the loss aggregation; 0 when no entropy was given.</summary>
    public double Entropy => Mean(MetricSlots.EntropySum, MetricSlots.ResponseCount);

    /// <summary>Mean KL to the reference per response token ("kl"); 0 when no reference was given.</summary>
    public double Kl => Mean(MetricSlots.KlSum, MetricSlots.ResponseCount);

    /// <summary>The number of on-policy tokens in the policy loss.</summary>
    public long OnPolicyTokens => (long)raw[MetricSlots.OnCount];

    /// <summary>The number of off-policy tokens in the policy loss.</summary>
    public long OffPolicyTokens => (long)raw[MetricSlots.OffCount];

    /// <summary>The number of response tokens.</summary>
    public long ResponseTokens => (long)raw[MetricSlots.ResponseCount];

    /// <summary>
    /// The metrics of several micro-batches of one batch as the whole batch reports them: sums and counts are added, so
    /// every mean is the mean over all tokens; <see cref="Loss"/> and <see cref="PolicyLoss"/> are summed (the micro-batch
    /// losses of a batch split with <see cref="LossNormalizers"/> add up to the full-batch loss).
    /// </summary>
    /// <param name="parts">The micro-batches' metrics, at least one.</param>
    /// <returns>The combined metrics.</returns>
    /// <exception cref="ArgumentException"><paramref name="parts"/> is empty.</exception>
    public static PolicyLossMetrics Combine(IEnumerable<PolicyLossMetrics> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var total = new double[MetricSlots.Count];
        int n = 0;
        foreach (PolicyLossMetrics part in parts)
        {
            ArgumentNullException.ThrowIfNull(part, nameof(parts));
            for (int k = 0; k < total.Length; k++)
            {
                total[k] += part.raw[k];
            }
            n++;
        }
        if (n == 0)
        {
            throw new ArgumentException("parts is empty; combine the metrics of at least one micro-batch.", nameof(parts));
        }
        return new PolicyLossMetrics(total);
    }

    /// <summary>The metrics as (name, value) pairs with the reference implementations' names, for logs.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> ToNamedValues() =>
    [
        new("loss", Loss),
        new("pg_loss", PolicyLoss),
        new("on_pg_loss", OnPolicyLoss),
        new("off_pg_loss", OffPolicyLoss),
        new("pg_clipfrac", ClipFraction),
        new("pg_clipfrac_lower", ClipFractionLower),
        new("ppo_kl", PpoKl),
        new("off_policy_prob", OffPolicyProbability),
        new("on_policy_prob", OnPolicyProbability),
        new("off_ratio_mean", OffPolicyRatioMean),
        new("off_ratio_max_clip_frac", OffPolicyMaxClampFraction),
        new("off_ratio_min_clip_frac", OffPolicyMinClampFraction),
        new("all_max_clip_frac", AllMaxClipFraction),
        new("sft_loss", SftLoss),
        new("entropy", Entropy),
        new("kl", Kl),
        new("on_tokens", OnPolicyTokens),
        new("off_tokens", OffPolicyTokens),
        new("response_tokens", ResponseTokens),
    ];
}
