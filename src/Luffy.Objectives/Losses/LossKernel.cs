namespace Luffy.Objectives.Losses;

/// <summary>Which implementation of <see cref="MixedPolicyLoss"/> runs.</summary>
public enum LossKernel
{
    /// <summary>
    /// The fused kernel where it applies (CPU tensors, float32 or float64, a built-in shaping function), the
    /// composed one elsewhere (CUDA, bfloat16, custom shaping). The default.
    /// </summary>
    Auto,

    /// <summary>
    /// One pass over the tokens computes the loss, its analytic gradient and every metric (a custom autograd function;
    /// backward hands over the cached gradient, or scales it when the output gradient is not 1). CPU, float32/float64 and built-in shaping functions only; otherwise
    /// <see cref="MixedPolicyLoss.Compute(PolicyLossInputs)"/> throws <see cref="NotSupportedException"/>.
    /// </summary>
    Fused,

    /// <summary>Straightforward composed TorchSharp ops with autograd: runs on every device and dtype; the reference.</summary>
    Composed,
}
