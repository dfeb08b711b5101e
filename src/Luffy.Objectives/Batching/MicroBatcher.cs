using Luffy.Objectives.Internal;
using static TorchSharp.torch;

namespace Luffy.Objectives.Batching;

/// <summary>Splits a <see cref="TrainingBatch"/> into micro-batches for gradient accumulation, keeping the whole batch's counts.</summary>
public static class MicroBatcher
{
    /// <summary>Micro-batches of at most <paramref name="sequencesPerMicroBatch"/> sequences. Reads the per-sequence counts from the device once.</summary>
    /// <param name="batch">The full batch; not disposed.</param>
    /// <param name="sequencesPerMicroBatch">≥ 1.</param>
    /// <param name="layout">
    /// Which rows share a micro-batch and how wide it is. The default, <see cref="MicroBatchLayout.Consecutive"/>, keeps
    /// the batch's order and width; <see cref="MicroBatchLayout.SortedByLength"/> computes the least padding.
    /// </param>
    /// <returns>Fresh micro-batches covering every sequence once; dispose the result (or each micro-batch) when done.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequencesPerMicroBatch"/> is &lt; 1, or <paramref name="layout"/> is not a defined value.</exception>
    public static MicroBatches ByCount(TrainingBatch batch, int sequencesPerMicroBatch, MicroBatchLayout layout = MicroBatchLayout.Consecutive)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (sequencesPerMicroBatch < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(sequencesPerMicroBatch), sequencesPerMicroBatch, "sequencesPerMicroBatch must be >= 1.");
        }
        CheckLayout(layout);
        Lengths lengths = Lengths.Read(batch);
        int[] order = lengths.Order(layout);
        var parts = new List<int[]>();
        for (int start = 0; start < order.Length; start += sequencesPerMicroBatch)
        {
            parts.Add(order[start..Math.Min(order.Length, start + sequencesPerMicroBatch)]);
        }
        return Slice(batch, parts, lengths, layout);
    }

    /// <summary>
    /// Micro-batches whose real tokens (prompt + response, from the attention mask) stay within
    /// <paramref name="tokenBudget"/>; a sequence larger than the budget gets a micro-batch of its own.
    /// Reads the per-sequence counts from the device once (as <see cref="ByCount"/> does).
    /// </summary>
    /// <param name="batch">The full batch; not disposed.</param>
    /// <param name="tokenBudget">≥ 1 tokens per micro-batch.</param>
    /// <param name="layout">
    /// Which rows share a micro-batch and how wide it is (the budget counts real tokens in every layout). The default,
    /// <see cref="MicroBatchLayout.Consecutive"/>, keeps the batch's order and width.
    /// </param>
    /// <returns>Fresh micro-batches covering every sequence once; dispose the result (or each micro-batch) when done.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokenBudget"/> is &lt; 1, or <paramref name="layout"/> is not a defined value.</exception>
    public static MicroBatches ByTokenBudget(TrainingBatch batch, long tokenBudget, MicroBatchLayout layout = MicroBatchLayout.Consecutive)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (tokenBudget < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(tokenBudget), tokenBudget, "tokenBudget must be >= 1.");
        }
        CheckLayout(layout);
        Lengths lengths = Lengths.Read(batch);
        int[] order = lengths.Order(layout);
        var parts = new List<int[]>();
        int begin = 0;
        long used = 0;
        for (int k = 0; k < order.Length; k++)
        {
            long tokens = lengths.Prompt[order[k]] + lengths.Response[order[k]];
            if (k > begin && used + tokens > tokenBudget)
            {
                parts.Add(order[begin..k]);
                begin = k;
                used = 0;
            }
            used += tokens;
        }
        parts.Add(order[begin..]);
        return Slice(batch, parts, lengths, layout);
    }

    private static void CheckLayout(MicroBatchLayout layout)
    {
        if (!Enum.IsDefined(layout))
        {
            throw new ArgumentOutOfRangeException(nameof(layout), layout, $"layout must be one of {string.Join(", ", Enum.GetNames<MicroBatchLayout>())}.");
        }
    }

    private static MicroBatches Slice(TrainingBatch batch, List<int[]> parts, Lengths lengths, MicroBatchLayout layout)
    {
        long[] responseLengths = lengths.ResponseTokens;
        bool[] traces = lengths.Traces;
        long tokens = responseLengths.Sum(), sequences = responseLengths.Count(v => v > 0);
        long traceFreeTokens = responseLengths.Where((_, i) => !traces[i]).Sum(), traceFreeSequences = responseLengths.Where((v, i) => !traces[i] && v > 0).Count();
        long traceTokens = tokens - traceFreeTokens;
        var result = new List<MicroBatch>(parts.Count);
        foreach (int[] unsorted in parts)
        {
            int[] rows = [.. unsorted.Order()];
            using Tensor indices = MicroBatch.Indices(rows, batch.GroupIds.device);
            (int promptColumns, int responseColumns) = layout == MicroBatchLayout.Consecutive
                ? (batch.PromptLength, batch.ResponseLength)
                : (rows.Max(r => lengths.Prompt[r]), Math.Max(1, rows.Max(r => lengths.Response[r])));
            TrainingBatch part = batch.Part(indices, promptColumns, responseColumns);
            result.Add(new MicroBatch(part, rows, batch.Count, batch.PromptLength, batch.ResponseLength, tokens, sequences, traceFreeTokens, traceFreeSequences, traceTokens));
        }
        return new MicroBatches(result);
    }

    /// <summary>
    /// Per row, read from the device in one transfer: the real prompt tokens and the response extent (columns up to the
    /// last one any response-aligned mask or the attention mask marks), the tokens under the response mask, and whether
    /// the row carries trace tokens.
    /// </summary>
    private sealed record Lengths(int[] Prompt, int[] Response, long[] ResponseTokens, bool[] Traces)
    {
        public static Lengths Read(TrainingBatch batch)
        {
            int b = batch.Count;
            long[] counts;
            using (NewDisposeScope())
            {
                Tensor attention = batch.AttentionMask.ne(0);
                Tensor prompt = attention.narrow(1, 0, batch.PromptLength).sum(1);
                Tensor used = attention.narrow(1, batch.PromptLength, batch.ResponseLength)
                    .logical_or(batch.ResponseMask).logical_or(batch.OffPolicyMask).logical_or(batch.SamplingLogProbsMask);
                Tensor columns = arange(1, batch.ResponseLength + 1, dtype: ScalarType.Int64, device: used.device);
                Tensor extent = where(used, columns, zeros(1, dtype: ScalarType.Int64, device: used.device)).amax(1);
                Tensor traces = batch.OffPolicyMask.logical_and(batch.ResponseMask).any(1).to_type(ScalarType.Int64);
                counts = HostTransfer.Read<long>(cat([prompt, extent, batch.ResponseLengths.to_type(ScalarType.Int64), traces]));
            }
            return new Lengths(
                [.. counts.Take(b).Select(v => (int)v)], [.. counts.Skip(b).Take(b).Select(v => (int)v)],
                [.. counts.Skip(2 * b).Take(b)], [.. counts.Skip(3 * b).Select(v => v != 0)]);
        }

        /// <summary>The rows in micro-batch order: batch order, or longest first (prompt + response) with ties in batch order.</summary>
        public int[] Order(MicroBatchLayout layout)
        {
            int[] rows = [.. Enumerable.Range(0, Prompt.Length)];
            return layout == MicroBatchLayout.SortedByLength ? [.. rows.OrderByDescending(r => Prompt[r] + Response[r]).ThenBy(r => r)] : rows;
        }
    }
}
