using Luffy.Objectives.Internal;
using Luffy.Objectives.Shaping;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// The fused CPU kernel of <see cref="MixedPolicyLoss"/> for <see cref="ClippedSurrogate"/>: one pass over the tokens
/// (rows in parallel) computes the loss, its analytic gradient with respect to the log-probs and every metric — sixteen
/// float32 tokens at a time with AVX-512, eight with AVX2 + FMA (one generic body, <see cref="IFloatLanes{TSelf}"/>),
/// otherwise token by token in double precision; sums are reduced in double. It covers the built-in ratio reshapings and
/// shaping functions, trace probabilities, the min/max clamps, all-max-clip, the SFT term, rollout-correction weights,
/// the entropy bonus and the KL penalty. The autograd backward hands the cached gradient over (a single multiply when the
/// output gradient is not 1). Row blocks are reduced in a fixed order, so results do not depend on threading.
/// </summary>
/// <remarks>
/// The driver (this file), the per-call state (<c>.State.cs</c>), the kernel's arguments and accumulators
/// (<c>.Arguments.cs</c>), the SIMD row body (<c>.Simd.cs</c>), the double-precision token (<c>.Scalar.cs</c>) and the
/// autograd node (<c>.Function.cs</c>) live in separate files.
/// </remarks>
internal static partial class FusedPolicyLoss
{
    private const int RowsPerBlock = 8;

    /// <summary>
    /// Caps the SIMD width on the calling thread (16 = AVX-512, 8 = AVX2, 1 = scalar); null picks the widest the
    /// hardware runs. For tests, so that every path is checked on any machine.
    /// </summary>
    [ThreadStatic]
    internal static int? MaxLanesOverride;

    /// <summary>
    /// Runs the rows of the calling thread's kernel calls through the SIMD body with the code of every option, not the body
    /// without the options that are not set. For tests, which check that both give the same bits.
    /// </summary>
    [ThreadStatic]
    internal static bool GeneralBodyOverride;

    /// <summary>The widest float32 SIMD path the hardware runs, capped by <see cref="MaxLanesOverride"/>.</summary>
    internal static int MaxLanes()
    {
        int cap = MaxLanesOverride ?? int.MaxValue;
        return FloatLanes512.IsAccelerated && cap >= 16 ? 16 : FloatLanes256.IsAccelerated && cap >= 8 ? 8 : 1;
    }

    /// <summary>The built-in on-policy ratios.</summary>
    internal enum RatioKind
    {
        Exponential,
        Log,
        RatioPlusLog,
        SquareRoot,
        Power,
        Regularized,
    }

    /// <summary>Whether the fused kernel can run these inputs; <paramref name="reason"/> says why not.</summary>
    public static bool Supports(PolicyLossInputs inputs, PolicyLossOptions options, out string reason)
    {
        Tensor logp = inputs.LogProbs;
        if (logp.device_type != TorchSharp.DeviceType.CPU)
        {
            reason = $"the fused kernel runs on the CPU; LogProbs is on {logp.device}";
            return false;
        }
        if (logp.dtype is not (ScalarType.Float32 or ScalarType.Float64))
        {
            reason = $"the fused kernel supports float32 and float64; LogProbs is {logp.dtype}";
            return false;
        }
        if (options.OnPolicy is not ClippedSurrogate surrogate)
        {
            reason = $"the fused kernel runs ClippedSurrogate; the on-policy objective is {options.OnPolicy.GetType().Name} ({options.OnPolicy.Name})";
            return false;
        }
        if (Ratio(surrogate.Ratio, out _) is null)
        {
            reason = $"the fused kernel supports the built-in ratio reshapings; {surrogate.Ratio.GetType().Name} is not one";
            return false;
        }
        if (inputs.TraceProbabilities is null && options.Shaping is not IBuiltInShaping)
        {
            reason = $"the fused kernel supports the built-in shaping functions; {options.Shaping.GetType().Name} is not one";
            return false;
        }
        if (logp.numel() > int.MaxValue)
        {
            reason = "the fused kernel supports up to 2^31 tokens per call";
            return false;
        }
        reason = "";
        return true;
    }

    internal static RatioKind? Ratio(IRatioReshaping ratio, out double parameter)
    {
        (RatioKind? kind, parameter) = ratio switch
        {
            ExponentialRatio => (RatioKind.Exponential, 0.0),
            LogRatio => (RatioKind.Log, 0.0),
            RatioPlusLogRatio w => (RatioKind.RatioPlusLog, w.Weight),
            SquareRootRatio => (RatioKind.SquareRoot, 0.5),
            PowerRatio k => (RatioKind.Power, k.Exponent),
            RegularizedRatio g => (RatioKind.Regularized, g.Gamma),
            _ => ((RatioKind?)null, 0.0),
        };
        return kind;
    }

    /// <summary>Runs the kernel inside its own dispose scope; the result owns the loss, the metrics and the state.</summary>
    public static PolicyLossResult Compute(PolicyLossInputs inputs, PolicyLossOptions options)
    {
        AutogradSafety.DisposeOrphans();
        using var scope = NewDisposeScope();
        var state = new State(inputs, options);
        // The differentiable inputs enter through same-shape views. Autograd copies a gradient that anything else
        // still references, and TorchSharp keeps a handle on every tensor a custom backward returns; the views'
        // backward hands autograd a fresh reference instead, so a leaf's .grad takes the kernel's gradient buffer
        // without a copy (measured at (256, 4096): backward 0.5 ms with the copy, 0.07 ms without).
        Tensor logProbs = inputs.LogProbs.view(inputs.LogProbs.shape);
        Tensor? entropy = state.NeedsEntropyGradient ? inputs.Entropy!.view(inputs.Entropy.shape) : null;
        Tensor fused = FusedFunction.apply(logProbs, entropy!, state);
        // A custom node's saved data outlives a backward (TorchSharp's node keeps it), so a second backward without
        // retain_graph would silently run again. Multiplying by a saved constant puts a built-in node in front: autograd
        // frees its saved tensor after the first backward and refuses a second one, exactly as for the composed ops.
        // (The version checks of the saved inputs run in backward, see FusedFunction: a guard node per input, as the
        // chunked token statistics use, cost 0.2 ms per step at (64, 1024), a third of the step.)
        Tensor loss = fused * (fused.dtype == ScalarType.Float32 ? tensor(1f) : tensor(1.0, dtype: fused.dtype));
        return new PolicyLossResult(loss.MoveToOuterDisposeScope(), state.Metrics!, LossKernel.Fused, "", state);
    }
}
