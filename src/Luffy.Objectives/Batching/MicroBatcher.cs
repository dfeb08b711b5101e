using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Batching;

/// <summary>Splits a <see cref="TrainingBatch"/> into micro-batches for gradient accumulation, keeping the whole batch's counts.</summary>
public static class MicroBatcher
{
    /// <summary>Consecutive micro-batches of at most <paramref name="sequencesPerMicroBatch"/> sequences.</summary>
    /// <param name="batch">The full batch; not disposed.</param>
    /// <param name="sequencesPerMicroBatch">≥ 1.</param>
    /// <returns>Fresh micro-batches, in order, covering every sequence once; dispose the result (or each micro-batch) when done.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequencesPerMicroBatch"/> is &lt; 1.</exception>
    public static MicroBatches ByCount(TrainingBatch batch, int sequencesPerMicroBatch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (sequencesPerMicroBatch < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(sequencesPerMicroBatch), sequencesPerMicroBatch, "sequencesPerMicroBatch must be >= 1.");
        }
        var ranges = new List<(int Start, int Count)>();
        for (int start = 0; start < batch.Count; start += sequencesPerMicroBatch)
        {
            ranges.Add((start, Math.Min(sequencesPerMicroBatch, batch.Count - start)));
        }
        return Slice(batch, ranges);
    }

    /// <summary>
    /// Consecutive micro-batches whose real tokens (prompt + response, from the attention mask) stay within
    /// <paramref name="tokenBudget"/>; a sequence larger than the budget gets a micro-batch of its own.
    /// Reads the per-sequence token counts from the device once.
    /// </summary>
    /// <param name="batch">The full batch; not disposed.</param>
    /// <param name="tokenBudget">≥ 1 tokens per micro-batch.</param>
    /// <returns>Fresh micro-batches, in order, covering every sequence once; dispose the result (or each micro-batch) when done.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenBudget"/> is &lt; 1.</exception>
    public static MicroBatches ByTokenBudget(TrainingBatch batch, long tokenBudget)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (tokenBudget < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(tokenBudget), tokenBudget, "tokenBudget must be >= 1.");
        }
        long[] tokens;
        using (NewDisposeScope())
        {
            tokens = HostTransfer.Read<long>(batch.AttentionMask.sum(1));
        }
        var ranges = new List<(int Start, int Count)>();
        int begin = 0;
        long used = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            if (i > begin && used + tokens[i] > tokenBudget)
            {
                ranges.Add((begin, i - begin));
                begin = i;
                used = 0;
            }
            used += tokens[i];
        }
        ranges.Add((begin, tokens.Length - begin));
        return Slice(batch, ranges);
    }

    private static MicroBatches Slice(TrainingBatch batch, List<(int Start, int Count)> ranges)
    {
        long[] lengths;
        bool[] traces;
        using (NewDisposeScope())
        {
            lengths = batch.ResponseLengths.cpu().data<long>().ToArray();
            traces = batch.OffPolicyMask.logical_and(batch.ResponseMask).any(1).cpu().data<bool>().ToArray();
        }
        long tokens = lengths.Sum(), sequences = lengths.Count(v => v > 0);
        long traceFreeTokens = lengths.Where((_, i) => !traces[i]).Sum(), traceFreeSequences = lengths.Where((v, i) => !traces[i] && v > 0).Count();
        long traceTokens = tokens - traceFreeTokens;
        var result = new List<MicroBatch>(ranges.Count);
        foreach ((int start, int count) in ranges)
        {
            using Tensor indices = arange(start, start + count, dtype: ScalarType.Int64, device: batch.GroupIds.device);
            result.Add(new MicroBatch(batch.Select(indices), start, batch.Count, tokens, sequences, traceFreeTokens, traceFreeSequences, traceTokens));
        }
        return new MicroBatches(result);
    }
}
