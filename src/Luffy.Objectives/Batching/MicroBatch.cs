using Luffy.Objectives.Internal;
using Luffy.Objectives.Losses;
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
    public void Dispose() => Batch.Dispose();
}
