using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// The denominators of a whole batch, for gradient accumulation: pass them with every micro-batch
/// (<see cref="PolicyLossInputs.Normalizers"/>) and the sum of the micro-batch losses and gradients equals the
/// full-batch loss and gradient, however the batch was split. Build them with <see cref="FromMasks"/> (or
/// <c>MicroBatch.Normalizers</c>) from the whole batch's masks and the loss options.
/// </summary>
public sealed record LossNormalizers
{
    /// <summary>Creates normalizers.</summary>
    /// <param name="policy">The policy loss's denominator: its token count (token-mean), its sequence count (sequence modes) or C (token-sum-norm); finite and &gt; 0.</param>
    /// <param name="regularizer">The entropy bonus's and KL penalty's denominator, over every response token; finite and &gt; 0. The default is <see langword="null"/>: <paramref name="policy"/>.</param>
    /// <param name="sft">The SFT term's token count (see <see cref="PolicyLossOptions.SftCoefficient"/>); finite and &gt; 0. The default is <see langword="null"/>: the micro-batch's own count.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is not a finite number greater than 0.</exception>
    public LossNormalizers(double policy, double? regularizer = null, double? sft = null)
    {
        TensorGuard.Positive(policy, nameof(policy));
        if (regularizer is { } r)
        {
            TensorGuard.Positive(r, nameof(regularizer));
        }
        if (sft is { } s)
        {
            TensorGuard.Positive(s, nameof(sft));
        }
        Policy = policy;
        Regularizer = regularizer ?? policy;
        Sft = sft;
    }

    /// <summary>The policy loss's denominator.</summary>
    public double Policy { get; }

    /// <summary>The entropy bonus's and KL penalty's denominator.</summary>
    public double Regularizer { get; }

    /// <summary>The SFT term's token count, or <see langword="null"/> for the micro-batch's own.</summary>
    public double? Sft { get; }

    /// <summary>
    /// The normalizers of a whole batch for <paramref name="options"/>: token or sequence counts of the response mask
    /// (the policy's without the trace-carrying sequences when <see cref="PolicyLossOptions.TraceSequencesInPolicyLoss"/>
    /// is off), or C for token-sum-norm; counts of 0 become 1. Reads four counts from the device once.
    /// </summary>
    /// <param name="options">The loss options (aggregation, its constant, the SFT settings).</param>
    /// <param name="responseMask">The whole batch's response mask, (B, T), bool or an integer dtype. Not disposed.</param>
    /// <param name="offPolicyMask">The whole batch's off-policy mask, (B, T), or <see langword="null"/> (no traces). Not disposed.</param>
    /// <returns>The normalizers.</returns>
    /// <exception cref="ArgumentException">The masks' dtypes, shapes or devices do not fit.</exception>
    public static LossNormalizers FromMasks(PolicyLossOptions options, Tensor responseMask, Tensor? offPolicyMask = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        TensorGuard.Rank(responseMask, nameof(responseMask), 2, "(B, T)");
        TensorGuard.MaskDtype(responseMask, nameof(responseMask));
        if (offPolicyMask is not null)
        {
            TensorGuard.Mask(offPolicyMask, nameof(offPolicyMask), responseMask, nameof(responseMask), "(B, T)");
        }
        long[] counts;
        using (NewDisposeScope())
        {
            Tensor mask = TensorGuard.AsBoolMask(responseMask);
            Tensor lengths = mask.sum(1);
            Tensor traceRows = offPolicyMask is null ? zeros(mask.shape[0], dtype: ScalarType.Bool, device: mask.device) : TensorGuard.AsBoolMask(offPolicyMask).logical_and(mask).any(1);
            Tensor policyLengths = options.TraceSequencesInPolicyLoss ? lengths : where(traceRows, zeros_like(lengths), lengths);
            counts = stack([lengths.sum(), lengths.gt(0).sum(), policyLengths.sum(), policyLengths.gt(0).sum(), where(traceRows, lengths, zeros_like(lengths)).sum()])
                .cpu().data<long>().ToArray();
        }
        return FromCounts(options, responseMask.shape[1], counts[0], counts[1], counts[2], counts[3], counts[4]);
    }

    /// <summary>The normalizers from counts of a whole batch (what <see cref="FromMasks"/> reads).</summary>
    internal static LossNormalizers FromCounts(PolicyLossOptions options, long columns, long tokens, long sequences, long policyTokens, long policySequences, long sftTokens)
    {
        double Denominator(long tokenCount, long sequenceCount) => LossDenominator.Of(options.Aggregation, options.AggregationConstant, tokenCount, sequenceCount, columns);
        return new LossNormalizers(Denominator(policyTokens, policySequences), Denominator(tokens, sequences), Math.Max(sftTokens, 1));
    }
}
