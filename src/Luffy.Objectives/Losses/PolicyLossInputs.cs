namespace Luffy.Objectives.Losses;

using static TorchSharp.torch;

/// <summary>
/// The tensors of one loss step. All (B, T) tensors share one layout: B sequences, T response tokens (padded).
/// Floating-point tensors must share the dtype and device of <see cref="LogProbs"/>; masks may be bool or 0/1 of
/// any dtype (non-zero = set). Nothing is broadcast and nothing is disposed by the loss.
/// </summary>
public sealed class PolicyLossInputs
{
    /// <summary>log πθ of each response token under the policy being trained, (B, T), float32/float64/bfloat16, normally requiring grad.</summary>
    public required Tensor LogProbs { get; init; }

    /// <summary>
    /// log-prob of each token under the policy that produced the rollout (detached), (B, T). Only on-policy tokens
    /// read it; for off-policy tokens the behaviour probability is taken as 1 and any finite value may stand here.
    /// </summary>
    public required Tensor OldLogProbs { get; init; }

    /// <summary>Token advantages, (B, T); normally a per-sequence value broadcast with <c>TokenAdvantages.Broadcast</c>.</summary>
    public required Tensor Advantages { get; init; }

    /// <summary>Response mask, (B, T): set on real response tokens, clear on padding and after EOS.</summary>
    public required Tensor ResponseMask { get; init; }

    /// <summary>Off-policy mask, (B, T): set where the token was copied from an off-policy trace. The default is <see langword="null"/>: every token is on-policy (pure PPO/GRPO).</summary>
    public Tensor? OffPolicyMask { get; init; }

    /// <summary>Reference-policy log-probs, (B, T), required when <see cref="PolicyLossOptions.KlCoefficient"/> &gt; 0. The default is <see langword="null"/>.</summary>
    public Tensor? ReferenceLogProbs { get; init; }

    /// <summary>Per-token entropy of the policy's next-token distribution, (B, T), required when <see cref="PolicyLossOptions.EntropyCoefficient"/> &gt; 0 (compute it with <c>TokenStatistics</c>). The default is <see langword="null"/>.</summary>
    public Tensor? Entropy { get; init; }

    /// <summary>
    /// Replaces the micro-batch's own aggregation denominator (see <see cref="LossAggregator.Aggregate"/>): pass the
    /// global token count (token-mean) or sequence count (sequence modes) of the whole batch so that summing the
    /// micro-batch losses gives the full-batch loss and gradient. The default is <see langword="null"/>.
    /// </summary>
    public double? GlobalNormalizer { get; init; }
}
