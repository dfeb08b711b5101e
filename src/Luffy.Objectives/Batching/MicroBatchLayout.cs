namespace Luffy.Objectives.Batching;

/// <summary>How <see cref="MicroBatcher"/> assigns a batch's rows to micro-batches and how wide each micro-batch is.</summary>
public enum MicroBatchLayout
{
    /// <summary>
    /// Consecutive rows in batch order, every micro-batch as wide as the batch (P prompt and T response columns): the
    /// model sees exactly the full batch's shapes. The default.
    /// </summary>
    Consecutive,

    /// <summary>
    /// Consecutive rows in batch order, each micro-batch cut to the columns its rows use: its longest prompt (the
    /// left-padding columns no row needs are dropped) and its longest response (at least one column). The model computes
    /// fewer padded positions; the loss is the same up to float rounding (shapes differ, so do summation orders). The
    /// model must take positions from <see cref="TrainingBatch.PositionIds"/> and hide padding through
    /// <see cref="TrainingBatch.AttentionMask"/> (as a batched forward over left-padded prompts has to anyway): a model that
    /// numbers positions by column would see the prompts shifted.
    /// </summary>
    Trimmed,

    /// <summary>
    /// Rows ordered by their real tokens (prompt + response, from the attention mask), longest first (ties in batch
    /// order), then cut into micro-batches that are each trimmed as in <see cref="Trimmed"/>: rows of similar length share
    /// a micro-batch, so little padding is left. Each micro-batch lists its rows in ascending order
    /// (<see cref="MicroBatch.Rows"/>).
    /// </summary>
    SortedByLength,
}
