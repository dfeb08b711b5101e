using Luffy.Objectives.Internal;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Tokens;
using static TorchSharp.torch;

namespace Luffy.Objectives.Batching;

/// <summary>
/// A slice of consecutive rows of a <see cref="TrainingBatch"/> for gradient accumulation, with the counts of the whole
/// batch that the loss needs as its normalizers (<see cref="Normalizers"/>), so that the summed micro-batch gradients
/// equal the full-batch gradient. Owns <see cref="Batch"/>.
/// </summary>
public sealed class MicroBatch : IDisposable
{
    private readonly long traceFreeTokens, traceFreeSequences, traceTokens;

    internal MicroBatch(TrainingBatch batch, int start, int totalRows, long globalTokenCount, long globalSequenceCount, long traceFreeTokens, long traceFreeSequences, long traceTokens)
    {
        Batch = batch;
        Start = start;
        TotalRows = totalRows;
        GlobalTokenCount = globalTokenCount;
        GlobalSequenceCount = globalSequenceCount;
        this.traceFreeTokens = traceFreeTokens;
        this.traceFreeSequences = traceFreeSequences;
        this.traceTokens = traceTokens;
    }

    /// <summary>The micro-batch's sequences (same P and T as the full batch).</summary>
    public TrainingBatch Batch { get; }

    /// <summary>The first row of this micro-batch in the full batch.</summary>
    public int Start { get; }

    /// <summary>The number of rows (sequences) in this micro-batch.</summary>
    public int Count => Batch.Count;

    /// <summary>B of the full batch.</summary>
    public int TotalRows { get; }

    /// <summary>Response tokens in the whole batch.</summary>
    public long GlobalTokenCount { get; }

    /// <summary>Sequences with at least one response token in the whole batch.</summary>
    public long GlobalSequenceCount { get; }

    /// <summary>
    /// This micro-batch's rows of a tensor that covers the whole batch (old log-probs, token advantages, rollout
    /// weights...): rows [<see cref="Start"/>, <see cref="Start"/> + <see cref="Count"/>) of its first dimension, as a view.
    /// </summary>
    /// <param name="wholeBatch">A tensor whose first dimension is the full batch's B. Not disposed.</param>
    /// <returns>A fresh view of the rows (dispose it, or let a dispose scope do it; the data stays the caller's).</returns>
    /// <exception cref="ArgumentException">The tensor's first dimension is not the full batch's B.</exception>
    public Tensor Slice(Tensor wholeBatch)
    {
        TensorGuard.NotNull(wholeBatch, nameof(wholeBatch));
        if (wholeBatch.dim() < 1 || wholeBatch.shape[0] != TotalRows)
        {
            throw new ArgumentException($"wholeBatch has shape {TensorGuard.Shape(wholeBatch)}; its first dimension must be the full batch's B = {TotalRows}.", nameof(wholeBatch));
        }
        return wholeBatch.narrow(0, Start, Count);
    }

    /// <summary>
    /// The whole batch's normalizers for <paramref name="options"/> (pass them as <see cref="PolicyLossInputs.Normalizers"/>):
    /// token counts for token-mean, sequence counts for the sequence modes, C (or T) for token-sum-norm, without the
    /// trace-carrying sequences in the policy's counts when <see cref="PolicyLossOptions.TraceSequencesInPolicyLoss"/> is
    /// off. Counts of 0 become 1.
    /// </summary>
    /// <param name="options">The loss's options.</param>
    /// <returns>The normalizers.</returns>
    public LossNormalizers Normalizers(PolicyLossOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        bool all = options.TraceSequencesInPolicyLoss;
        return LossNormalizers.FromCounts(options, Batch.ResponseLength, GlobalTokenCount, GlobalSequenceCount,
            all ? GlobalTokenCount : traceFreeTokens, all ? GlobalSequenceCount : traceFreeSequences, traceTokens);
    }

    /// <summary>Disposes the micro-batch's tensors.</summary>
    /// <summary>
    /// The loss inputs of this micro-batch in one call, so that nothing can be forgotten: the model's statistics of the
    /// micro-batch (log-probs, and the entropy when the loss uses it), the rows of the whole-batch old log-probs and
    /// advantages (and of the optional whole-batch tensors), this micro-batch's masks, and the whole batch's normalizers
    /// for <paramref name="loss"/>'s options (so the summed micro-batch gradients equal the full-batch gradient and
    /// <see cref="PolicyLossMetrics.Combine"/> is exact).
    /// </summary>
    /// <param name="loss">The loss the inputs are for (its options choose the normalizers).</param>
    /// <param name="statistics">The model's statistics of <see cref="Batch"/>, (n, T) (<c>TokenStatistics.ForResponses</c>). Not disposed.</param>
    /// <param name="oldLogProbs">The whole batch's old log-probs, (B, T). Not disposed.</param>
    /// <param name="advantages">The whole batch's token advantages, (B, T) (<c>AdvantageResult.ToTokens</c>). Not disposed.</param>
    /// <param name="referenceLogProbs">The whole batch's reference-policy log-probs, (B, T), for the KL penalty. The default is <see langword="null"/>.</param>
    /// <param name="rolloutWeights">The whole batch's rollout-correction weights, (B, T). The default is <see langword="null"/>.</param>
    /// <param name="traceProbabilities">The whole batch's trace probabilities, (B, T) (<see cref="TrainingBatch.TraceProbabilities"/>). The default is <see langword="null"/>.</param>
    /// <param name="traceLogProbs">The whole batch's stored behaviour log-probs of the trace tokens, (B, T) (<see cref="TrainingBatch.TraceLogProbs"/>, ExGRPO). The default is <see langword="null"/>.</param>
    /// <returns>Inputs that view the given tensors (nothing new to dispose).</returns>
    /// <exception cref="ArgumentException">A whole-batch tensor is not (B, …) for the full batch's B.</exception>
    /// <exception cref="ObjectDisposedException">The micro-batch or <paramref name="statistics"/> was disposed.</exception>
    public PolicyLossInputs Inputs(MixedPolicyLoss loss, TokenStatisticsResult statistics, Tensor oldLogProbs, Tensor advantages,
        Tensor? referenceLogProbs = null, Tensor? rolloutWeights = null, Tensor? traceProbabilities = null, Tensor? traceLogProbs = null)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(statistics);
        return new PolicyLossInputs
        {
            LogProbs = statistics.LogProbs,
            OldLogProbs = Slice(oldLogProbs),
            Advantages = Slice(advantages),
            ResponseMask = Batch.ResponseMask,
            OffPolicyMask = Batch.OffPolicyMask,
            Entropy = statistics.Entropy,
            ReferenceLogProbs = referenceLogProbs is null ? null : Slice(referenceLogProbs),
            RolloutWeights = rolloutWeights is null ? null : Slice(rolloutWeights),
            TraceProbabilities = traceProbabilities is null ? null : Slice(traceProbabilities),
            TraceLogProbs = traceLogProbs is null ? null : Slice(traceLogProbs),
            Normalizers = Normalizers(loss.Options),
        };
    }

    /// <summary>Disposes <see cref="Batch"/>. Idempotent.</summary>
    public void Dispose() => Batch.Dispose();
}
