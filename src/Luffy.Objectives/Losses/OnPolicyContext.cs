using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// What <see cref="IOnPolicyObjective.Compute"/> receives. Every tensor is (B, T) and already cleaned by the loss:
/// positions outside the response mask hold 0 (whatever the caller's padding held), and <see cref="LogProbs"/> carries
/// gradient only at <see cref="OnPolicyMask"/> tokens, so an objective may compute on every position and the loss keeps
/// the values it needs. Created by <see cref="MixedPolicyLoss"/>; public so that objectives can be tested on their own.
/// </summary>
public sealed class OnPolicyContext
{
    /// <summary>log πθ of each token, (B, T), floating point; differentiable at on-policy tokens.</summary>
    public required Tensor LogProbs { get; init; }

    /// <summary>Log-probs under the rollout policy, (B, T), the log-probs' dtype, detached.</summary>
    public required Tensor OldLogProbs { get; init; }

    /// <summary>Token advantages, (B, T), the log-probs' dtype.</summary>
    public required Tensor Advantages { get; init; }

    /// <summary>The on-policy tokens whose losses the loss keeps, (B, T) bool; sequence-level objectives take their statistics over them.</summary>
    public required Tensor OnPolicyMask { get; init; }

    /// <summary>Every response token, (B, T) bool: where clip indicators are read for the all-token metric scope.</summary>
    public required Tensor ResponseMask { get; init; }

    /// <summary>
    /// Rollout-correction weights, (B, T), the log-probs' dtype, detached, 0 outside the response, or <see langword="null"/>.
    /// An objective that declares <see cref="IOnPolicyObjective.AppliesRolloutWeights"/> includes them in its token losses
    /// (most multiply token-wise; see <c>RolloutCorrection</c>); for any other, the loss multiplies its token losses.
    /// </summary>
    public Tensor? RolloutWeights { get; init; }
}
