namespace Luffy.Objectives.Losses;

/// <summary>
/// The token loss of on-policy tokens (the policy's own samples) inside <see cref="MixedPolicyLoss"/>: PPO's clipped
/// surrogate (<see cref="ClippedSurrogate"/>, LUFFY's choice), or one of verl's policy losses (GSPO, SAPO, GPG, GMPO,
/// CISPO). The mixed loss routes off-policy (trace) tokens to the shaping function, aggregates, adds the regularizers and
/// computes the common metrics; an objective only returns its token losses and clip indicators. Implement it to add
/// your own objective: the composed kernel runs it on any device.
/// </summary>
public interface IOnPolicyObjective
{
    /// <summary>A short name for logs and configuration, e.g. <c>ppo-clip</c>; the loss result reports it.</summary>
    string Name { get; }

    /// <summary>
    /// The aggregation the objective is defined with, or <see langword="null"/> when it is a token-level objective that
    /// any aggregation may reduce. A sequence-level objective (GSPO, GMPO) returns the one its definition assumes, and
    /// <see cref="PolicyLossOptions.Validate"/> rejects options that aggregate it otherwise unless
    /// <see cref="PolicyLossOptions.AllowAggregationMismatch"/> is set. The default implementation returns <see langword="null"/>.
    /// </summary>
    LossAggregation? RequiredAggregation => null;

    /// <summary>
    /// Whether <see cref="Compute"/> applies <see cref="OnPolicyContext.RolloutWeights"/> itself (e.g. GMPO weighs a
    /// sequence by the geometric mean of its weights). The default implementation returns <see langword="false"/>: the
    /// loss then multiplies the returned token losses by the weights, so that no objective ignores them silently.
    /// </summary>
    bool AppliesRolloutWeights => false;

    /// <summary>Computes the token losses and clip indicators of one (micro-)batch.</summary>
    /// <param name="context">The (B, T) inputs, already masked: see <see cref="OnPolicyContext"/>. Do not dispose them.</param>
    /// <returns>Fresh (B, T) token losses (differentiable in <see cref="OnPolicyContext.LogProbs"/>; rollout weights applied when <see cref="AppliesRolloutWeights"/> is set) and indicators.</returns>
    OnPolicyTerms Compute(OnPolicyContext context);
}
