using Luffy.Objectives.Advantages;
using Luffy.Objectives.Losses;

namespace Luffy.Objectives.Recipes;

/// <summary>
/// Lookup by verl's registry keys (<c>actor.policy_loss.loss_mode</c> and <c>algorithm.adv_estimator</c> in
/// <c>verl/trainer/ppo/core_algos.py</c>), for users who arrive with a verl configuration. docs/objectives.md has the
/// full TRL ↔ verl ↔ Luffy name table.
/// </summary>
public static class VerlRegistry
{
    private static readonly Dictionary<string, Func<PolicyLossOptions>> PolicyLosses = new(StringComparer.Ordinal)
    {
        ["vanilla"] = () => PolicyLossOptions.Grpo,
        ["gspo"] = () => PolicyLossOptions.Gspo,
        ["sapo"] = () => PolicyLossOptions.Sapo,
        ["gpg"] = () => PolicyLossOptions.Gpg,
        ["geo_mean"] = () => PolicyLossOptions.Gmpo,
        ["cispo"] = () => PolicyLossOptions.Cispo,
    };

    private static readonly Dictionary<string, Func<IAdvantageEstimator>> Estimators = new(StringComparer.Ordinal)
    {
        ["grpo"] = () => new GroupNormalizedAdvantage(),
        ["grpo_vectorized"] = () => new GroupNormalizedAdvantage(),
        ["grpo_passk"] = () => new PassAtKAdvantage(),
        ["rloo"] = () => new LeaveOneOutAdvantage(),
        ["rloo_vectorized"] = () => new LeaveOneOutAdvantage(),
        ["reinforce_plus_plus"] = () => new ReinforcePlusPlusAdvantage(),
        ["reinforce_plus_plus_baseline"] = () => new ReinforcePlusPlusBaselineAdvantage(),
        ["remax"] = () => new ReMaxAdvantage(),
        ["opo"] = () => new LengthWeightedBaselineAdvantage(),
        ["gpg"] = () => new GpgAdvantage(),
    };

    /// <summary>verl's policy-loss keys this library implements: vanilla, gspo, sapo, gpg, geo_mean, cispo.</summary>
    public static IReadOnlyCollection<string> PolicyLossKeys => PolicyLosses.Keys;

    /// <summary>verl's advantage-estimator keys this library implements.</summary>
    public static IReadOnlyCollection<string> AdvantageEstimatorKeys => Estimators.Keys;

    /// <summary>The loss options verl runs for a <c>policy_loss.loss_mode</c> (its objective with the aggregation verl uses for it).</summary>
    /// <param name="lossMode">A verl key, e.g. <c>vanilla</c> or <c>geo_mean</c>.</param>
    /// <exception cref="NotSupportedException">The key is verl's but not implemented here (clip_cov, kl_cov, bypass_mode), or unknown; the message lists the supported keys.</exception>
    public static PolicyLossOptions PolicyLoss(string lossMode)
    {
        ArgumentNullException.ThrowIfNull(lossMode);
        return PolicyLosses.TryGetValue(lossMode, out Func<PolicyLossOptions>? options) ? options()
            : throw new NotSupportedException($"verl policy loss '{lossMode}' is not implemented here; supported: {string.Join(", ", PolicyLosses.Keys)}.");
    }

    /// <summary>The estimator for an <c>algorithm.adv_estimator</c> key, with verl's defaults.</summary>
    /// <param name="advantageEstimator">A verl key, e.g. <c>grpo</c> or <c>rloo</c>.</param>
    /// <exception cref="NotSupportedException">The key is verl's but not implemented here (gae needs a critic; the optimal-token baselines), or unknown; the message lists the supported keys.</exception>
    public static IAdvantageEstimator AdvantageEstimator(string advantageEstimator)
    {
        ArgumentNullException.ThrowIfNull(advantageEstimator);
        return Estimators.TryGetValue(advantageEstimator, out Func<IAdvantageEstimator>? estimator) ? estimator()
            : throw new NotSupportedException($"verl advantage estimator '{advantageEstimator}' is not implemented here; supported: {string.Join(", ", Estimators.Keys)}.");
    }
}
