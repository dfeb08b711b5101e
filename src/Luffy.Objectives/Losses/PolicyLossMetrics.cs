namespace Luffy.Objectives.Losses;

/// <summary>
/// Host-side metrics of one loss step, named as the reference implementation logs them. Means over an empty
/// token set are 0.
/// </summary>
/// <param name="Loss">The total loss (policy − entropy bonus + KL penalty).</param>
/// <param name="PolicyLoss">The aggregated policy-gradient loss alone ("pg_loss").</param>
/// <param name="OnPolicyLoss">Mean on-policy token loss over on-policy tokens ("on_pg_loss").</param>
/// <param name="OffPolicyLoss">Mean off-policy token loss over off-policy tokens ("off_pg_loss").</param>
/// <param name="OnPolicyClipFraction">Share of tokens where the clipped branch is active ("on_pg_clipfrac"; scope per <see cref="PolicyLossOptions.MetricScope"/>).</param>
/// <param name="DualClipFraction">Share of on-policy tokens where the dual-clip bound is active.</param>
/// <param name="PpoKl">Mean of old − logp ("ppo_kl"; scope per <see cref="PolicyLossOptions.MetricScope"/>).</param>
/// <param name="OffPolicyProbability">Mean p = exp(logp) over off-policy tokens ("off_policy_prob").</param>
/// <param name="OnPolicyProbability">Mean exp(old) over on-policy tokens ("on_policy_prob").</param>
/// <param name="OffPolicyRatioMean">Mean shaped value f(p) before clamps over off-policy tokens ("off_ratio_mean").</param>
/// <param name="OffPolicyMaxClampFraction">Share of off-policy tokens with f(p) &gt; max clamp ("off_ratio_max_clip_frac").</param>
/// <param name="OffPolicyMinClampFraction">Share of off-policy tokens with f(p) &lt; min clamp ("off_ratio_min_clip_frac").</param>
/// <param name="Entropy">The aggregated entropy (0 when no entropy was given).</param>
/// <param name="Kl">The aggregated KL to the reference (0 when no reference was given).</param>
/// <param name="OnPolicyTokens">The number of on-policy response tokens.</param>
/// <param name="OffPolicyTokens">The number of off-policy response tokens.</param>
public sealed record PolicyLossMetrics(
    double Loss,
    double PolicyLoss,
    double OnPolicyLoss,
    double OffPolicyLoss,
    double OnPolicyClipFraction,
    double DualClipFraction,
    double PpoKl,
    double OffPolicyProbability,
    double OnPolicyProbability,
    double OffPolicyRatioMean,
    double OffPolicyMaxClampFraction,
    double OffPolicyMinClampFraction,
    double Entropy,
    double Kl,
    long OnPolicyTokens,
    long OffPolicyTokens)
{
    /// <summary>The metrics as (name, value) pairs with the reference implementation's names, for logs.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> ToNamedValues() =>
    [
        new("loss", Loss),
        new("pg_loss", PolicyLoss),
        new("on_pg_loss", OnPolicyLoss),
        new("off_pg_loss", OffPolicyLoss),
        new("on_pg_clipfrac", OnPolicyClipFraction),
        new("dual_clipfrac", DualClipFraction),
        new("ppo_kl", PpoKl),
        new("off_policy_prob", OffPolicyProbability),
        new("on_policy_prob", OnPolicyProbability),
        new("off_ratio_mean", OffPolicyRatioMean),
        new("off_ratio_max_clip_frac", OffPolicyMaxClampFraction),
        new("off_ratio_min_clip_frac", OffPolicyMinClampFraction),
        new("entropy", Entropy),
        new("kl", Kl),
        new("on_tokens", OnPolicyTokens),
        new("off_tokens", OffPolicyTokens),
    ];
}
