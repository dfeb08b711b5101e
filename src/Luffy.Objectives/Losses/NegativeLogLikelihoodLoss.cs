using Luffy.Objectives.Batching;
using Luffy.Objectives.Internal;
using Luffy.Objectives.Shaping;
using Luffy.Objectives.Tokens;
using static TorchSharp.torch;

namespace Luffy.Objectives.Losses;

/// <summary>
/// Supervised fine-tuning's loss: the negative log-likelihood −log p of the masked tokens (e.g. demonstration traces),
/// aggregated like the policy loss (<see cref="LossAggregation"/>, with the whole batch's normalizers over
/// micro-batches). It runs the mixed loss's kernels (fused on the CPU) with every masked token off-policy, advantage 1
/// and f(p) = log p, so its values, gradients and metrics (<see cref="PolicyLossMetrics.OffPolicyLoss"/> is the mean
/// NLL per token) are those kernels' exactly. LUFFY's "SFT" baseline; for an SFT term next to the policy loss use
/// <see cref="PolicyLossOptions.SftCoefficient"/>.
/// </summary>
public sealed class NegativeLogLikelihoodLoss
{
    private readonly MixedPolicyLoss loss;

    /// <summary>Creates the loss.</summary>
    /// <param name="aggregation">How token losses become a scalar. The default is <see cref="LossAggregation.TokenMean"/> (TRL's SFT loss).</param>
    /// <param name="aggregationConstant">C of <see cref="LossAggregation.SequenceMeanTokenSumNorm"/>, &gt; 0; only with that aggregation. The default is <see langword="null"/> (T).</param>
    /// <exception cref="ArgumentException">An aggregation setting is out of range or does not apply (see <see cref="PolicyLossOptions.Validate"/>).</exception>
    public NegativeLogLikelihoodLoss(LossAggregation aggregation = LossAggregation.TokenMean, double? aggregationConstant = null)
    {
        loss = new MixedPolicyLoss(new PolicyLossOptions { Shaping = new LogShaping(1.0), Aggregation = aggregation, AggregationConstant = aggregationConstant });
    }

    /// <summary>The options the loss runs with (for <see cref="MicroBatch.Normalizers"/> and <see cref="LossNormalizers.FromMasks"/>).</summary>
    public PolicyLossOptions Options => loss.Options;

    /// <summary>The loss over the masked tokens.</summary>
    /// <param name="logProbs">log p of the tokens under the model, (B, T), floating point, differentiable. Not disposed.</param>
    /// <param name="mask">The tokens to learn, (B, T), bool or integer (e.g. the trace tokens or the response mask). Not disposed.</param>
    /// <param name="normalizers">The whole batch's denominators when this is a micro-batch. The default is <see langword="null"/> (this batch's own).</param>
    /// <param name="entropy">The tokens' entropies, (B, T), for the entropy metric only (no bonus). The default is <see langword="null"/>.</param>
    /// <returns>A fresh result; its loss is differentiable with respect to <paramref name="logProbs"/>.</returns>
    /// <exception cref="ArgumentException">The tensors' shapes, dtypes or devices disagree.</exception>
    public PolicyLossResult Compute(Tensor logProbs, Tensor mask, LossNormalizers? normalizers = null, Tensor? entropy = null)
    {
        TensorGuard.Floating(logProbs, nameof(logProbs));
        TensorGuard.Rank(logProbs, nameof(logProbs), 2, "(B, T)");
        TensorGuard.Mask(mask, nameof(mask), logProbs, nameof(logProbs), "(B, T)");
        // no dispose scope here: the result's tensors go to the caller's scope; the loss keeps what it needs of these
        using Tensor detached = logProbs.detach();
        using Tensor advantages = ones_like(detached);
        return loss.Compute(new PolicyLossInputs
        {
            LogProbs = logProbs, OldLogProbs = detached, Advantages = advantages, ResponseMask = mask, OffPolicyMask = mask, Normalizers = normalizers, Entropy = entropy,
        });
    }

    /// <summary>One micro-batch's loss over its response tokens, with the whole batch's normalizers (and the statistics' entropy as a metric).</summary>
    /// <param name="microBatch">The micro-batch. Not disposed.</param>
    /// <param name="statistics">The model's statistics of the micro-batch's rows, (n, T). Not disposed.</param>
    /// <returns>A fresh result; summing the micro-batch losses gives the full batch's.</returns>
    public PolicyLossResult Compute(MicroBatch microBatch, TokenStatisticsResult statistics)
    {
        ArgumentNullException.ThrowIfNull(microBatch);
        ArgumentNullException.ThrowIfNull(statistics);
        return Compute(statistics.LogProbs, microBatch.Batch.ResponseMask, microBatch.Normalizers(Options), statistics.Entropy);
    }
}
