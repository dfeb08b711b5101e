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

    /// <summary>Computes the token losses and clip indicators of one (micro-)batch.</summary>
    /// <param name="context">The (B, T) inputs, already masked: see <see cref="OnPolicyContext"/>. Do not dispose them.</param>
    /// <returns>Fresh (B, T) token losses (differentiable in <see cref="OnPolicyContext.LogProbs"/>, rollout weights applied) and indicators.</returns>
    OnPolicyTerms Compute(OnPolicyContext context);
}
