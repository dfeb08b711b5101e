using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// A policy-shaping function f(p) applied to the probability p = πθ(token) of an off-policy (demonstration)
/// token. The off-policy token loss is −A·f(p). Implementations take log-probabilities, so that they stay
/// finite and differentiable for log-probs down to −100 (p ≈ 4e-44) and never evaluate log(0).
/// </summary>
/// <remarks>
/// Dimension letters: B sequences, T response tokens. Shaping is element-wise, so any shape works;
/// the loss passes (B, T).
/// </remarks>
public interface IShapingFunction
{
    /// <summary>A short name for logs and configuration, e.g. <c>regularized(gamma=0.1)</c>.</summary>
    string Name { get; }

    /// <summary>Evaluates f(exp(logProbs)) element-wise, differentiably (autograd flows to <paramref name="logProbs"/>).</summary>
    /// <param name="logProbs">Log-probabilities log p ≤ 0, any shape, a floating-point dtype. Not disposed.</param>
    /// <returns>A fresh tensor of the same shape and dtype.</returns>
    Tensor Apply(Tensor logProbs);

    /// <summary>The analytic derivative ∂f(exp(ℓ))/∂ℓ element-wise (no autograd graph is built).</summary>
    /// <param name="logProbs">Log-probabilities ℓ = log p ≤ 0, any shape, a floating-point dtype. Not disposed.</param>
    /// <returns>A fresh tensor of the same shape and dtype.</returns>
    Tensor DerivativeWithRespectToLogProb(Tensor logProbs);

    /// <summary>Evaluates f(exp(logProb)) for one value in double precision (for documentation, tests and logs).</summary>
    /// <param name="logProb">A log-probability ≤ 0.</param>
    double Evaluate(double logProb);
}
