using Luffy.Objectives.Losses;

namespace Luffy.Objectives.Batching;

/// <summary>
/// A slice of a <see cref="TrainingBatch"/> for gradient accumulation, with the counts of the whole batch that the
/// loss needs as its global normalizer so that the summed micro-batch gradients equal the full-batch gradient.
/// Owns <see cref="Batch"/>.
/// </summary>
public sealed class MicroBatch : IDisposable
{
    internal MicroBatch(TrainingBatch batch, long globalTokenCount, long globalSequenceCount)
    {
        Batch = batch;
        GlobalTokenCount = globalTokenCount;
        GlobalSequenceCount = globalSequenceCount;
    }

    /// <summary>The micro-batch's sequences (same P and T as the full batch).</summary>
    public TrainingBatch Batch { get; }

    /// <summary>Response tokens in the whole batch.</summary>
    public long GlobalTokenCount { get; }

    /// <summary>Sequences with at least one response token in the whole batch.</summary>
    public long GlobalSequenceCount { get; }

    /// <summary>
    /// The value to pass as <see cref="PolicyLossInputs.GlobalNormalizer"/> for an aggregation mode: the global token
    /// count (token-mean), the global sequence count (sequence modes), or <paramref name="constant"/> ?? T (token-sum-norm).
    /// Counts of 0 become 1.
    /// </summary>
    /// <param name="mode">The loss's aggregation mode.</param>
    /// <param name="constant">C of <see cref="LossAggregation.SequenceMeanTokenSumNorm"/>; the default <see langword="null"/> uses T.</param>
    public double GlobalNormalizer(LossAggregation mode, double? constant = null) => mode switch
    {
        LossAggregation.TokenMean => Math.Max(GlobalTokenCount, 1),
        LossAggregation.SequenceMeanTokenSumNorm => constant ?? Batch.ResponseLength,
        _ => Math.Max(GlobalSequenceCount, 1),
    };

    /// <summary>Disposes the micro-batch's tensors.</summary>
    public void Dispose() => Batch.Dispose();
}
