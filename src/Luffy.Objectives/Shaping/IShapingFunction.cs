using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// A policy-shaping function f(p) applied to the probability p = πθ(token) of an off-policy (demonstration)
/// token. The off-policy token loss is −A·f(p). Implementations take log-probabilities, so that they stay
/// finite and differentiable for log-probs down to −100 (p ≈ 4e-44) and never evaluate log(0).
/// </summary>
/// <remarks>
/// Dimension letters: B sequences, T response tokens. Shaping is element-wise, so any shape works;
/// the loss passes (B, T). A custom implementation needs only <see cref="Name"/> and <see cref="Apply"/> (it runs the
/// composed kernel); the built-in ones are instances of one formula that the fused CPU kernel also runs.
/// </remarks>
public interface IShapingFunction
{
    /// <summary>A short name for logs and configuration, e.g. <c>regularized(gamma=0.1)</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Evaluates f(exp(logProbs)) element-wise, differentiably: autograd gives ∂f/∂log p, so f is all a custom shaping
    /// writes. The loss checks that the result has the input's shape, dtype and device.
    /// </summary>
    /// <param name="logProbs">Log-probabilities log p ≤ 0, any shape, a floating-point dtype. Not disposed.</param>
    /// <returns>A fresh tensor of the same shape and dtype.</returns>
    Tensor Apply(Tensor logProbs);
}
