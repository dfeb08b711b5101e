namespace Luffy.Objectives.Losses;

using static TorchSharp.torch;

/// <summary>
/// The tensors of one loss step. All (B, T) tensors share one layout: B ≥ 1 sequences, T ≥ 1 response tokens (padded).
/// Floating-point tensors must share the dtype and device of <see cref="LogProbs"/>; masks are bool or an integer dtype
/// (non-zero = set). Nothing is broadcast and nothing is disposed by the loss, nor read again after
/// <see cref="MixedPolicyLoss.Compute(PolicyLossInputs)"/> returns (a caller may dispose its tensors before calling <c>backward()</c>).
/// Values outside the response mask are never read into the loss: padding may hold anything, NaN included, and gets
/// exactly zero gradient. A NaN at a response token propagates as PyTorch does: the loss is NaN and so is that token's
/// gradient.
/// </summary>
public sealed record PolicyLossInputs
{
    /// <summary>log πθ of each response token under the policy being trained, (B, T), float32/float64/bfloat16, normally requiring grad.</summary>
    public required Tensor LogProbs { get; init; }

    /// <summary>
    /// log-prob of each token under the policy that produced the rollout (detached), (B, T). The loss reads it at
    /// on-policy tokens; for off-policy tokens the behaviour probability is taken as 1 and any value may stand here (it
    /// only enters the clip-fraction and PPO-KL metrics under <see cref="MetricScope.AllResponseTokens"/>).
    /// </summary>
    public required Tensor OldLogProbs { get; init; }

    /// <summary>Token advantages, (B, T); normally a per-sequence value broadcast with <c>AdvantageResult.ToTokens</c>.</summary>
    public required Tensor Advantages { get; init; }

    /// <summary>Response mask, (B, T), bool or an integer dtype: set on real response tokens, clear on padding and after EOS.</summary>
    public required Tensor ResponseMask { get; init; }

    /// <summary>Off-policy mask, (B, T), bool or an integer dtype: set where the token was copied from an off-policy trace. The default is <see langword="null"/>: every token is on-policy (pure PPO/GRPO).</summary>
    public Tensor? OffPolicyMask { get; init; }

    /// <summary>Reference-policy log-probs, (B, T), required when <see cref="PolicyLossOptions.KlCoefficient"/> &gt; 0. The default is <see langword="null"/>.</summary>
    public Tensor? ReferenceLogProbs { get; init; }

    /// <summary>Per-token entropy of the policy's next-token distribution, (B, T), required when <see cref="PolicyLossOptions.EntropyCoefficient"/> &gt; 0 (compute it with <c>TokenStatistics</c>). The default is <see langword="null"/>.</summary>
    public Tensor? Entropy { get; init; }

    /// <summary>
    /// Behaviour probabilities q of the trace tokens (the reference's <c>target_probs</c>: the probability each trace token
    /// had under the model that wrote it), (B, T), read at off-policy tokens only. When set, the off-policy ratio is
    /// p/(q + 1e-6), not reshaped (the reference skips the off-policy reshape then), before the min/max clamps.
    /// <c>TrainingBatch.TraceProbabilities()</c> builds it from the traces' behaviour log-probs. A value outside [0, 1] at
    /// an off-policy token makes that token's loss, and so the loss, NaN (rejecting it would need a device sync on every
    /// step). The default is <see langword="null"/>.
    /// </summary>
    public Tensor? TraceProbabilities { get; init; }

    /// <summary>
    /// Behaviour log-probs of the off-policy tokens (B, T), detached, read at off-policy tokens only: the log-prob each
    /// token had under the policy that wrote it, e.g. an experience-replay trajectory's stored log-probs (ExGRPO;
    /// <c>TrainingBatch.TraceLogProbs()</c> builds it). When set, the shaping applies to the importance weight
    /// w = exp(log p − stored) instead of to p: the off-policy token loss is −A·f(w) (ExGRPO's reshaped ratio, unlike the
    /// unshaped p/(q + 1e-6) of <see cref="TraceProbabilities"/>, which must then be null). Needs
    /// <see cref="OffPolicyMask"/>. The log term of a built-in shaping (<c>LogShaping</c>, <c>IdentityPlusLogShaping</c>)
    /// keeps log p, as the reference's <c>logp</c>/<c>p_logp</c> reshapes do (the gradient is the same either way); a
    /// custom shaping is applied to log w. A positive value at an off-policy token (a log-prob above 0) makes that token's loss,
    /// and so the loss, NaN (no device sync to reject it); w is not clamped, as in the reference, so log p − stored above
    /// 88 overflows float32 to a NaN loss. The default is <see langword="null"/>.
    /// </summary>
    public Tensor? TraceLogProbs { get; init; }

    /// <summary>
    /// Rollout-correction weights w, (B, T), detached, multiplied token-wise into the policy token losses (verl's
    /// <c>rollout_is_weights</c>; compute them with <c>RolloutCorrection.Compute</c>). A negative weight at a response token
    /// makes that token's loss, and so the loss, NaN (no device sync to reject it). The default is <see langword="null"/>.
    /// </summary>
    public Tensor? RolloutWeights { get; init; }

    /// <summary>
    /// The whole batch's denominators, replacing the micro-batch's own (see <see cref="LossNormalizers"/>): summing the
    /// micro-batch losses then gives the full-batch loss and gradient. The default is <see langword="null"/>.
    /// </summary>
    public LossNormalizers? Normalizers { get; init; }
}
