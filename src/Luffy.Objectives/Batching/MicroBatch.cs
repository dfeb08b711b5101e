using Luffy.Objectives.Internal;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Tokens;
using static TorchSharp.torch;

namespace Luffy.Objectives.Batching;

/// <summary>
/// Some rows of a <see cref="TrainingBatch"/> for gradient accumulation (<see cref="MicroBatcher"/>), with the counts of the
/// whole batch that the loss needs as its normalizers (<see cref="Normalizers"/>), so that the summed micro-batch gradients
/// equal the full-batch gradient. Its <see cref="Batch"/> may be narrower than the full batch
/// (<see cref="MicroBatchLayout.Trimmed"/>): P′ ≤ P prompt columns (the last ones) and T′ ≤ T response columns (the
/// first ones); <see cref="Slice"/>, <see cref="SliceSequences"/> and <see cref="Scatter"/> map whole-batch tensors to and
/// from it. Owns <see cref="Batch"/>.
/// </summary>
public sealed class MicroBatch : IDisposable
{
    private readonly long traceFreeTokens, traceFreeSequences, traceTokens;
    private readonly int[] rows;
    private readonly bool consecutive;

    internal MicroBatch(TrainingBatch batch, int[] rows, int totalRows, int totalPromptLength, int totalResponseLength, long globalTokenCount, long globalSequenceCount, long traceFreeTokens, long traceFreeSequences, long traceTokens)
    {
        Batch = batch;
        this.rows = rows;
        Rows = Array.AsReadOnly(rows);
        consecutive = rows.Select((r, k) => r - k).Distinct().Count() <= 1;
        TotalRows = totalRows;
        TotalPromptLength = totalPromptLength;
        TotalResponseLength = totalResponseLength;
        GlobalTokenCount = globalTokenCount;
        GlobalSequenceCount = globalSequenceCount;
        this.traceFreeTokens = traceFreeTokens;
        this.traceFreeSequences = traceFreeSequences;
        this.traceTokens = traceTokens;
    }

    /// <summary>The micro-batch's sequences: its rows of the full batch, with P′ ≤ P prompt and T′ ≤ T response columns.</summary>
    public TrainingBatch Batch { get; }

    /// <summary>The full batch's rows of this micro-batch, ascending (row k of <see cref="Batch"/> is full-batch row Rows[k]).</summary>
    public IReadOnlyList<int> Rows { get; }

    /// <summary>The number of rows (sequences) in this micro-batch.</summary>
    public int Count => rows.Length;

    /// <summary>B of the full batch.</summary>
    public int TotalRows { get; }

    /// <summary>P of the full batch (<see cref="Batch"/> keeps its last <see cref="TrainingBatch.PromptLength"/> columns).</summary>
    public int TotalPromptLength { get; }

    /// <summary>T of the full batch (<see cref="Batch"/> keeps its first <see cref="TrainingBatch.ResponseLength"/> columns).</summary>
    public int TotalResponseLength { get; }

    /// <summary>Response tokens in the whole batch.</summary>
    public long GlobalTokenCount { get; }

    /// <summary>Sequences with at least one response token in the whole batch.</summary>
    public long GlobalSequenceCount { get; }

    /// <summary>
    /// This micro-batch's part of a response-aligned tensor that covers the whole batch (old log-probs, token advantages,
    /// rollout weights...): its <see cref="Rows"/> of the first dimension and, for a (B, T, …) tensor, the first T′ columns
    /// (a (B, 1, …) or (B) tensor keeps its other dimensions). A view when the rows are consecutive, else a copy.
    /// </summary>
    /// <param name="wholeBatch">(B), (B, T, …) or (B, 1, …) for the full batch's B and T. Not disposed.</param>
    /// <returns>A fresh tensor (dispose it, or let a dispose scope do it; a view's data stays the caller's).</returns>
    /// <exception cref="ArgumentException">The first dimension is not the full batch's B, or the second is neither T nor 1.</exception>
    public Tensor Slice(Tensor wholeBatch)
    {
        TensorGuard.NotNull(wholeBatch, nameof(wholeBatch));
        CheckRows(wholeBatch, nameof(wholeBatch));
        if (wholeBatch.dim() >= 2 && wholeBatch.shape[1] != TotalResponseLength && wholeBatch.shape[1] != 1)
        {
            throw new ArgumentException($"wholeBatch has shape {TensorGuard.Shape(wholeBatch)}; a response-aligned tensor is (B, T, …) with T = {TotalResponseLength} (or (B, 1, …), or (B)). For a (B, P + T, …) tensor use SliceSequences.", nameof(wholeBatch));
        }
        if (wholeBatch.dim() < 2 || wholeBatch.shape[1] != TotalResponseLength || Batch.ResponseLength == TotalResponseLength)
        {
            return SelectRows(wholeBatch);
        }
        using Tensor columns = wholeBatch.narrow(1, 0, Batch.ResponseLength);
        return SelectRows(columns);
    }

    /// <summary>
    /// This micro-batch's part of a sequence-aligned tensor that covers the whole batch (logits or hidden states over
    /// prompt and response, (B, P + T, …)): its <see cref="Rows"/> and the P′ + T′ columns <see cref="Batch"/> keeps.
    /// </summary>
    /// <param name="wholeBatch">(B, P + T, …) for the full batch's B, P and T. Not disposed.</param>
    /// <returns>A fresh tensor (a view when nothing needs copying).</returns>
    /// <exception cref="ArgumentException">The tensor is not (B, P + T, …).</exception>
    public Tensor SliceSequences(Tensor wholeBatch)
    {
        TensorGuard.NotNull(wholeBatch, nameof(wholeBatch));
        CheckRows(wholeBatch, nameof(wholeBatch));
        int width = TotalPromptLength + TotalResponseLength;
        if (wholeBatch.dim() < 2 || wholeBatch.shape[1] != width)
        {
            throw new ArgumentException($"wholeBatch has shape {TensorGuard.Shape(wholeBatch)}; a sequence-aligned tensor is (B, P + T, …) with P + T = {width}.", nameof(wholeBatch));
        }
        using Tensor columns = wholeBatch.narrow(1, TotalPromptLength - Batch.PromptLength, Batch.PromptLength + Batch.ResponseLength);
        return SelectRows(columns);
    }

    /// <summary>
    /// Writes <paramref name="values"/>, this micro-batch's (n, T′, …) part of a response-aligned tensor, into its rows and
    /// first T′ columns of <paramref name="wholeBatch"/> (B, T, …) in place: the inverse of <see cref="Slice"/> (e.g. the
    /// old log-probs of each micro-batch's forward pass into the batch's tensor). The other columns are left as they are.
    /// </summary>
    /// <param name="values">(n, T′, …), the dtype and device of <paramref name="wholeBatch"/>. Not disposed.</param>
    /// <param name="wholeBatch">(B, T, …), written in place. Not disposed.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Scatter(Tensor values, Tensor wholeBatch)
    {
        TensorGuard.NotNull(values, nameof(values));
        TensorGuard.NotNull(wholeBatch, nameof(wholeBatch));
        CheckRows(wholeBatch, nameof(wholeBatch));
        if (wholeBatch.dim() < 2 || wholeBatch.shape[1] != TotalResponseLength)
        {
            throw new ArgumentException($"wholeBatch has shape {TensorGuard.Shape(wholeBatch)}; expected (B, T, …) with B = {TotalRows}, T = {TotalResponseLength}.", nameof(wholeBatch));
        }
        long[] expected = [Count, Batch.ResponseLength, .. wholeBatch.shape.Skip(2)];
        if (!values.shape.SequenceEqual(expected))
        {
            throw new ArgumentException($"values has shape {TensorGuard.Shape(values)}; this micro-batch's part of wholeBatch is ({string.Join(", ", expected)}).", nameof(values));
        }
        using var scope = NewDisposeScope();
        Tensor columns = wholeBatch.narrow(1, 0, Batch.ResponseLength);
        if (consecutive)
        {
            columns.narrow(0, rows[0], Count).copy_(values);
        }
        else
        {
            columns.index_copy_(0, RowIndices(wholeBatch.device), values);
        }
    }

    private void CheckRows(Tensor wholeBatch, string name)
    {
        if (wholeBatch.dim() < 1 || wholeBatch.shape[0] != TotalRows)
        {
            throw new ArgumentException($"{name} has shape {TensorGuard.Shape(wholeBatch)}; its first dimension must be the full batch's B = {TotalRows}.", name);
        }
    }

    private Tensor SelectRows(Tensor wholeBatch)
    {
        if (consecutive)
        {
            return wholeBatch.narrow(0, rows[0], Count);
        }
        using Tensor indices = RowIndices(wholeBatch.device);
        return wholeBatch.index_select(0, indices);
    }

    private Tensor RowIndices(Device device) => Indices(rows, device);

    /// <summary><paramref name="rows"/> as an int64 (n) index tensor on <paramref name="device"/>.</summary>
    internal static Tensor Indices(int[] rows, Device device) => tensor(Array.ConvertAll(rows, r => (long)r), dtype: ScalarType.Int64, device: device);

    /// <summary>
    /// The whole batch's normalizers for <paramref name="options"/> (pass them as <see cref="PolicyLossInputs.Normalizers"/>):
    /// token counts for token-mean, sequence counts for the sequence modes, C (or T) for token-sum-norm, without the
    /// trace-carrying sequences in the policy's counts when <see cref="PolicyLossOptions.TraceSequencesInPolicyLoss"/> is
    /// off. Counts of 0 become 1. C defaults to the full batch's T, also for a trimmed micro-batch.
    /// </summary>
    /// <param name="options">The loss's options.</param>
    /// <returns>The normalizers.</returns>
    public LossNormalizers Normalizers(PolicyLossOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        bool all = options.TraceSequencesInPolicyLoss;
        return LossNormalizers.FromCounts(options, TotalResponseLength, GlobalTokenCount, GlobalSequenceCount,
            all ? GlobalTokenCount : traceFreeTokens, all ? GlobalSequenceCount : traceFreeSequences, traceTokens);
    }

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
