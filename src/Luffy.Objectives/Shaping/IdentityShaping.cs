using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Shaping;

/// <summary>
/// f(p) = p: the plain importance ratio with the behaviour probability taken as 1 (no shaping).
/// Its gradient p vanishes for low-probability tokens; use it as the ablation of <see cref="RegularizedShaping"/>.
/// </summary>
public sealed class IdentityShaping : IShapingFunction
{
    /// <inheritdoc />
    public string Name => "identity";

    /// <inheritdoc />
    public Tensor Apply(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        return logProbs.exp();
    }

    /// <inheritdoc />
    public Tensor DerivativeWithRespectToLogProb(Tensor logProbs)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        using var noGrad = no_grad();
        return logProbs.exp();
    }

    /// <inheritdoc />
    public double Evaluate(double logProb) => Math.Exp(logProb);
}
