using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Correction;

/// <summary>
/// Rollout correction (verl's <c>rollout_corr_helper</c>, truncated importance sampling): the sampling engine (vLLM,
/// bfloat16, another kernel) and the trainer disagree slightly about the rollout's probabilities, so the trainer's
/// old log-probs are reweighted by w = π_old/π_rollout, truncated at C. With x = old − rollout on the corrected tokens:
/// token level w = exp(clamp(x, ±20)); sequence level w = exp(clamp(Σ_t x, ±20)) broadcast over the sequence. The
/// metrics are taken before truncation (<see cref="RolloutCorrectionMetrics"/>); then w = min(w, C), detached, and
/// optionally normalized to mean 1. Multiply them into any loss with <c>PolicyLossInputs.RolloutWeights</c>.
/// </summary>
/// <remarks>
/// Dimension letters: B sequences, T response tokens. Trace (off-policy) tokens and tokens without a sampling log-prob
/// are not corrected (weight 1): pass <c>TrainingBatch.RolloutCorrectionMask()</c> as the corrected mask. Empty sets give
/// metrics of 0 where verl would raise.
/// </remarks>
public static class RolloutCorrection
{
    /// <summary>The bound of the log-ratio (or of its sum) before the exponential: 20 (verl's SAFETY_BOUND).</summary>
    public const double LogRatioClamp = 20.0;

    /// <summary>The smallest mean that batch normalization divides by: 1e-8.</summary>
    public const double NormalizationFloor = 1e-8;

    /// <summary>Computes the weights and their metrics.</summary>
    /// <param name="oldLogProbs">The trainer's log-probs of the rollout tokens, (B, T), floating point. Not disposed.</param>
    /// <param name="rolloutLogProbs">The sampling engine's log-probs of the same tokens, (B, T), same dtype and device. Not disposed.</param>
    /// <param name="responseMask">The response mask, (B, T), bool or an integer dtype. Not disposed.</param>
    /// <param name="options">The options; <see langword="null"/> uses the defaults (token level, C = 2, no normalization).</param>
    /// <param name="correctedMask">The tokens to correct, (B, T), bool or an integer dtype, intersected with the response mask; the default <see langword="null"/> corrects every response token. Not disposed.</param>
    /// <returns>A fresh result owning the (B, T) weights and the metrics.</returns>
    /// <exception cref="ArgumentException">A tensor has the wrong shape, dtype or device, or B or T is 0.</exception>
    public static RolloutCorrectionResult Compute(Tensor oldLogProbs, Tensor rolloutLogProbs, Tensor responseMask, RolloutCorrectionOptions? options = null, Tensor? correctedMask = null)
    {
        const string layout = "(B, T)";
        TensorGuard.Floating(oldLogProbs, nameof(oldLogProbs));
        TensorGuard.Rank(oldLogProbs, nameof(oldLogProbs), 2, layout);
        if (oldLogProbs.shape[0] == 0 || oldLogProbs.shape[1] == 0)
        {
            throw new ArgumentException($"oldLogProbs has shape {TensorGuard.Shape(oldLogProbs)}; at least one sequence and one response column are required.", nameof(oldLogProbs));
        }
        TensorGuard.Companion(rolloutLogProbs, nameof(rolloutLogProbs), oldLogProbs, nameof(oldLogProbs), layout);
        TensorGuard.Mask(responseMask, nameof(responseMask), oldLogProbs, nameof(oldLogProbs), layout);
        if (correctedMask is not null)
        {
            TensorGuard.Mask(correctedMask, nameof(correctedMask), oldLogProbs, nameof(oldLogProbs), layout);
        }
        RolloutCorrectionOptions o = options ?? new RolloutCorrectionOptions();
        double c = o.Threshold, logC = Math.Log(c);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        ScalarType dtype = oldLogProbs.dtype;
        Device device = oldLogProbs.device;
        Tensor zero = zeros(1, dtype: dtype, device: device);
        Tensor response = TensorGuard.AsBoolMask(responseMask);
        Tensor corrected = correctedMask is null ? response : response.logical_and(TensorGuard.AsBoolMask(correctedMask));
        Tensor m = corrected.to_type(dtype);
        Tensor x = where(corrected, oldLogProbs.detach() - rolloutLogProbs.detach(), zero);
        Tensor count = m.sum();
        Tensor tokens = count.clamp_min(1);
        Tensor rows = full(1, (double)oldLogProbs.shape[0], dtype: dtype, device: device).squeeze(0);
        Tensor present = count.gt(0);
        Tensor Masked(Tensor values) => where(corrected, values, zero);

        Tensor weights, max, min, fractionHigh, fractionLow;
        if (o.Level == RolloutCorrectionLevel.Token)
        {
            weights = Masked(x.clamp(-LogRatioClamp, LogRatioClamp).exp());
            max = where(present, where(corrected, weights, full(1, double.NegativeInfinity, dtype: dtype, device: device)).max(), zero.squeeze(0));
            min = where(present, where(corrected, weights, full(1, double.PositiveInfinity, dtype: dtype, device: device)).min(), zero.squeeze(0));
            fractionHigh = weights.gt(c).logical_and(corrected).sum().to_type(dtype) / tokens;
            fractionLow = weights.lt(1 / c).logical_and(corrected).sum().to_type(dtype) / tokens;
        }
        else
        {
            Tensor sums = x.sum(1);
            weights = Masked(sums.clamp(-LogRatioClamp, LogRatioClamp).exp().unsqueeze(1).expand_as(x));
            max = sums.max().clamp_max(LogRatioClamp).exp();
            min = sums.min().exp();
            fractionHigh = sums.gt(logC).sum().to_type(dtype) / rows;
            fractionLow = sums.lt(-logC).sum().to_type(dtype) / rows;
        }
        Tensor mean = weights.sum() / tokens;

        Tensor bounded = Masked(weights.clamp(1 / c, c));
        Tensor boundedMean = bounded.sum() / tokens;
        Tensor variance = (bounded * bounded).sum() / tokens - boundedMean * boundedMean;
        Tensor std = where(count.gt(1), variance.clamp_min(0).sqrt(), zero.squeeze(0));
        Tensor normalized = Masked(bounded / (boundedMean + NormalizationFloor));
        Tensor effective = where(present, 1 / ((normalized * normalized).sum() / tokens), zero.squeeze(0));

        Tensor rowTokens = m.sum(1);
        Tensor sequenceMeans = weights.sum(1) / rowTokens.clamp_min(1);
        Tensor sequenceStd = sequenceMeans.shape[0] > 1 ? sequenceMeans.std(unbiased: true) : zero.squeeze(0);

        Tensor truncated = weights.clamp_max(c);
        Tensor factor = ones(1, dtype: dtype, device: device).squeeze(0);
        if (o.BatchNormalize)
        {
            Tensor batchMean = o.Level == RolloutCorrectionLevel.Token
                ? truncated.sum() / tokens
                : (truncated.sum(1) / rowTokens.clamp_min(1)).sum() / rowTokens.gt(0).sum().to_type(dtype).clamp_min(1);
            factor = where(batchMean.gt(NormalizationFloor), batchMean, factor);
            truncated = truncated / factor;
        }
        Tensor result = where(corrected, truncated, response.to_type(dtype));

        Tensor metrics = stack(new[]
        {
            mean, max, min, fractionHigh, fractionLow, std, effective,
            sequenceMeans.mean(), sequenceStd, sequenceMeans.max(), sequenceMeans.min(), (sequenceMeans - 1).abs().max(),
            sequenceMeans.gt(c).sum().to_type(dtype) / rows, sequenceMeans.lt(1 / c).sum().to_type(dtype) / rows,
            factor, count, rows,
        }.Select(t => t.to_type(ScalarType.Float64).reshape(Array.Empty<long>())));
        return new RolloutCorrectionResult(result.contiguous().MoveToOuterDisposeScope(), metrics.MoveToOuterDisposeScope(), c, o.BatchNormalize);
    }
}
