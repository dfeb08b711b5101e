using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>Reduces (B, T) token values under a response mask to a scalar, in every <see cref="LossAggregation"/> mode.</summary>
public static class LossAggregator
{
    /// <summary>Aggregates token values into a scalar (differentiable in <paramref name="values"/>).</summary>
    /// <param name="values">Token values L, shape (B, T), floating point. Not disposed. Values under a zero mask are ignored (even NaN).</param>
    /// <param name="responseMask">Response mask m, shape (B, T), bool or an integer dtype (non-zero = set). Not disposed.</param>
    /// <param name="mode">The aggregation mode.</param>
    /// <param name="globalNormalizer">
    /// When set, replaces the micro-batch's own denominator: the global token count (token-mean), the global
    /// count of sequences with ≥ 1 token (sequence modes), or C (token-sum-norm). Summing the results of the
    /// micro-batches of one batch then gives exactly the full batch's result. Must be &gt; 0. The default is
    /// <see langword="null"/>: the micro-batch's own denominator.
    /// </param>
    /// <param name="constant">C for <see cref="LossAggregation.SequenceMeanTokenSumNorm"/>; <see langword="null"/> (default) uses T = values.shape[1].</param>
    /// <returns>A fresh scalar tensor in the values' dtype.</returns>
    /// <exception cref="ArgumentException">Shapes disagree or a tensor is not floating point.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A normalizer or constant is not finite and positive.</exception>
    public static Tensor Aggregate(Tensor values, Tensor responseMask, LossAggregation mode, double? globalNormalizer = null, double? constant = null)
    {
        TensorGuard.Floating(values, nameof(values));
        TensorGuard.Rank(values, nameof(values), 2, "(B, T)");
        TensorGuard.Mask(responseMask, nameof(responseMask), values, nameof(values), "(B, T)");
        if (globalNormalizer is { } g)
        {
            TensorGuard.Positive(g, nameof(globalNormalizer));
        }
        if (constant is { } c)
        {
            TensorGuard.Positive(c, nameof(constant));
        }
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown LossAggregation value.");
        }

        using var scope = NewDisposeScope();
        Tensor mask = TensorGuard.AsBoolMask(responseMask);
        return AggregateUnchecked(values, mask, mode, globalNormalizer, constant).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The aggregation itself, for callers that already validated and hold a bool mask. <paramref name="zeroOutsideMask"/>:
    /// the caller guarantees the values are exactly 0 outside the mask (and finite there, with a finite derivative), so
    /// the masking pass and its backward are skipped.
    /// </summary>
    internal static Tensor AggregateUnchecked(Tensor values, Tensor mask, LossAggregation mode, double? globalNormalizer, double? constant, bool zeroOutsideMask = false)
    {
        ScalarType dtype = values.dtype;
        Tensor masked = zeroOutsideMask ? values : where(mask, values, zeros(1, dtype: dtype, device: values.device));
        Tensor total = mode == LossAggregation.SequenceMeanTokenMean
            ? (masked.sum(1) / mask.sum(1).to_type(dtype).clamp_min(1)).sum() // per-sequence token means, summed
            : masked.sum();
        if (globalNormalizer is { } n)
        {
            return total / n;
        }
        return total / LossDenominator.Select(mode,
            () => count_nonzero(mask).to_type(dtype).clamp_min(1),
            () => SequenceCount(mask, dtype),
            () => tensor(constant ?? values.shape[1], dtype: dtype, device: values.device));
    }

    private static Tensor SequenceCount(Tensor mask, ScalarType dtype) => count_nonzero(mask.any(1, false)).to_type(dtype).clamp_min(1);
}
