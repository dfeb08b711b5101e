using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// The on-policy importance ratio r(log p, log p_old) that a clipped surrogate (<c>ClippedSurrogate</c>) clips and
/// multiplies by −A: PPO's ρ = p/p_old, or one of the reshaped ratios of the LUFFY reference implementation
/// (<c>on_policy_reshape</c>). Implementations take log-probabilities and are differentiable in the current ones.
/// </summary>
/// <remarks>
/// Dimension letters: B sequences, T response tokens. Reshaping is element-wise; the loss passes (B, T). The built-in
/// implementations run in the fused CPU kernel; a custom one runs the composed kernel, which the loss result reports.
/// </remarks>
public interface IRatioReshaping
{
    /// <summary>A short name for logs and configuration, e.g. <c>ratio</c>.</summary>
    string Name { get; }

    /// <summary>Evaluates r element-wise, differentiably in <paramref name="logProbs"/>.</summary>
    /// <param name="logProbs">log p under the policy being trained, any shape, floating point. Not disposed.</param>
    /// <param name="oldLogProbs">log p_old under the rollout policy, same shape and dtype (detached). Not disposed.</param>
    /// <returns>A fresh tensor of the same shape and dtype.</returns>
    Tensor Apply(Tensor logProbs, Tensor oldLogProbs);

    /// <summary>Evaluates r for one token in double precision (for documentation, tests and logs).</summary>
    /// <param name="logProb">log p.</param>
    /// <param name="oldLogProb">log p_old.</param>
    double Evaluate(double logProb, double oldLogProb);
}
