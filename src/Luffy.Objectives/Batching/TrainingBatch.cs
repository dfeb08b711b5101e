using Luffy.Objectives.Advantages;
using Luffy.Objectives.Internal;
using Luffy.Objectives.Losses;
using static TorchSharp.torch;

namespace Luffy.Objectives.Batching;

/// <summary>
/// The padded tensors of one mixed-policy batch: B sequences, prompts left-padded to P tokens, responses
/// right-padded to T tokens. Owns its tensors; dispose it when the step is done.
/// </summary>
public sealed class TrainingBatch : IDisposable
{
    private readonly Tensor inputIds, attentionMask, positionIds, responseMask, offPolicyMask, groupIds, rewards, sampleKinds, responseLengths, truncated, samplingLogProbs, samplingLogProbsMask;
    private Tensor? isOffPolicy;
    private bool disposed;

    internal TrainingBatch(
        Tensor inputIds, Tensor attentionMask, Tensor positionIds, Tensor responseMask, Tensor offPolicyMask,
        Tensor groupIds, Tensor rewards, Tensor sampleKinds, Tensor responseLengths, Tensor truncated,
        Tensor samplingLogProbs, Tensor samplingLogProbsMask, int promptLength, BatchStatistics statistics, int? vocabularySize)
    {
        VocabularySize = vocabularySize;
        this.inputIds = inputIds;
        this.attentionMask = attentionMask;
        this.positionIds = positionIds;
        this.responseMask = responseMask;
        this.offPolicyMask = offPolicyMask;
        this.groupIds = groupIds;
        this.rewards = rewards;
        this.sampleKinds = sampleKinds;
        this.responseLengths = responseLengths;
        this.truncated = truncated;
        this.samplingLogProbs = samplingLogProbs;
        this.samplingLogProbsMask = samplingLogProbsMask;
        PromptLength = promptLength;
        Statistics = statistics;
    }

    /// <summary>Prompt then response token ids, (B, P + T) int64; padding holds the pad id.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor InputIds => Live(inputIds);

    /// <summary>1 on real prompt and response tokens, 0 on padding, (B, P + T) int64.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor AttentionMask => Live(attentionMask);

    /// <summary>Position of each token counting real tokens from 0, (B, P + T) int64; 0 on left padding, the last real position on right padding.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor PositionIds => Live(positionIds);

    /// <summary>Response tokens through the first EOS, (B, T) bool.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor ResponseMask => Live(responseMask);

    /// <summary>Forced trace tokens (off-policy), (B, T) bool; a prefix of the response mask for carriers, empty otherwise.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor OffPolicyMask => Live(offPolicyMask);

    /// <summary>Group id of each sequence, (B) int64.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor GroupIds => Live(groupIds);

    /// <summary>Reward of each sequence, (B) float32.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor Rewards => Live(rewards);

    /// <summary><see cref="SampleKind"/> of each sequence as its integer value, (B) int64.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor SampleKinds => Live(sampleKinds);

    /// <summary>Tokens under the response mask, (B) int64.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor ResponseLengths => Live(responseLengths);

    /// <summary>Whether the response was cut at the maximum length or stopped by the length limit, (B) bool.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor Truncated => Live(truncated);

    /// <summary>Sampling (or behaviour) log-probs aligned to the response tokens, (B, T) float32; 0 where not given.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor SamplingLogProbs => Live(samplingLogProbs);

    /// <summary>Where <see cref="SamplingLogProbs"/> holds a reported value, (B, T) bool.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Tensor SamplingLogProbsMask => Live(samplingLogProbsMask);

    /// <summary>P, the padded prompt length.</summary>
    public int PromptLength { get; }

    /// <summary>T, the padded response length.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public int ResponseLength => (int)ResponseMask.shape[1];

    /// <summary>B, the number of sequences.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public int Count => (int)GroupIds.shape[0];

    /// <summary>
    /// The vocabulary size V every token id of the batch was checked against when it was built
    /// (<see cref="BatchBuilderOptions.VocabularySize"/>), or <see langword="null"/> when the builder had none. With it,
    /// <c>TokenStatistics.ForResponses</c> needs no device read to check the ids against the logits.
    /// </summary>
    public int? VocabularySize { get; }

    /// <summary>What the builder did (counts of truncations, drops, solved groups...).</summary>
    public BatchStatistics Statistics { get; }

    /// <summary>The response part of the token ids, (B, T) int64 (a fresh tensor).</summary>
    public Tensor ResponseIds() => InputIds.narrow(1, PromptLength, ResponseLength).clone();

    /// <summary>Per-sequence off-policy flag (the sequence carries a trace), (B) bool (a fresh tensor).</summary>
    public Tensor IsOffPolicy() => SampleKinds.ne((long)SampleKind.OnPolicy);

    /// <summary>
    /// The advantage estimators' input: rewards, group ids, response mask and off-policy flags of this batch. It holds
    /// references to this batch's tensors (the flags are created once and disposed with the batch).
    /// </summary>
    public RewardBatch ToRewardBatch() => new(Rewards, GroupIds) { ResponseMask = ResponseMask, IsOffPolicy = isOffPolicy ??= IsOffPolicy().DetachFromDisposeScope() };

    /// <summary>
    /// The behaviour probabilities q of the trace tokens (<see cref="PolicyLossInputs.TraceProbabilities"/>), (B, T)
    /// float32 (a fresh tensor): exp of the trace's behaviour log-probs where the trace gave them
    /// (<see cref="OffPolicyTrace.BehaviourLogProbs"/>), 1 elsewhere (the behaviour probability the loss assumes without them,
    /// e.g. on the EOS appended to a full trace).
    /// </summary>
    public Tensor TraceProbabilities()
    {
        using var scope = NewDisposeScope();
        Tensor known = OffPolicyMask.logical_and(SamplingLogProbsMask);
        return where(known, SamplingLogProbs.exp(), ones(1, dtype: SamplingLogProbs.dtype, device: SamplingLogProbs.device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The stored behaviour log-probs of the trace tokens (<see cref="PolicyLossInputs.TraceLogProbs"/>, ExGRPO's replayed
    /// trajectories), (B, T) float32 (a fresh tensor): the trace's behaviour log-probs where it gave them
    /// (<see cref="OffPolicyTrace.BehaviourLogProbs"/>), 0 elsewhere (behaviour probability 1, so w = p there: e.g. the EOS
    /// appended to a full trace; the reference's zero padding past the stored length does the same).
    /// </summary>
    public Tensor TraceLogProbs()
    {
        using var scope = NewDisposeScope();
        Tensor known = OffPolicyMask.logical_and(SamplingLogProbsMask);
        return where(known, SamplingLogProbs, zeros(1, dtype: SamplingLogProbs.dtype, device: SamplingLogProbs.device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The tokens the sampling engine generated and reported a log-prob for, (B, T) bool (a fresh tensor): the response
    /// tokens with a sampling log-prob that are not trace tokens. Pass it to <c>RolloutCorrection.Compute</c> with
    /// <see cref="SamplingLogProbs"/>: the traces' behaviour log-probs are not the sampler's.
    /// </summary>
    public Tensor RolloutCorrectionMask() => ResponseMask.logical_and(SamplingLogProbsMask).logical_and(OffPolicyMask.logical_not());

    /// <summary>The sequences at <paramref name="indices"/> as a new batch with the same P and T (statistics are the parent's).</summary>
    /// <param name="indices">Sequence indices, (n) int64 or int32, each in [0, B), on the batch's device. Not disposed.</param>
    /// <exception cref="ArgumentException"><paramref name="indices"/> is not a 1-D integer tensor on the batch's device, or an index is outside [0, B) (one read of their minimum and maximum).</exception>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public TrainingBatch Select(Tensor indices)
    {
        TensorGuard.Integral(indices, nameof(indices));
        TensorGuard.Rank(indices, nameof(indices), 1, "(n)");
        TensorGuard.SameDevice(indices, nameof(indices), GroupIds, nameof(GroupIds));
        if (indices.numel() > 0)
        {
            long[] range = HostTransfer.Read<long>(stack([indices.min(), indices.max()]).to_type(ScalarType.Int64));
            if (range[0] < 0 || range[1] >= Count)
            {
                throw new ArgumentException($"indices range over [{range[0]}, {range[1]}] but the batch has B = {Count} sequences; indices must be in [0, {Count}).", nameof(indices));
            }
        }
        if (indices.dtype == ScalarType.Int64)
        {
            return Selected(indices);
        }
        using Tensor converted = indices.to_type(ScalarType.Int64);
        return Selected(converted);
    }

    /// <summary>The rows at <paramref name="indices"/> (int64, known to be in range: no read to check them), same P and T.</summary>
    internal TrainingBatch Selected(Tensor indices) => Part(indices, PromptLength, ResponseLength);

    /// <summary>
    /// The sequences at <paramref name="rows"/> with only the last <paramref name="promptColumns"/> prompt columns and the
    /// first <paramref name="responseColumns"/> response columns (prompts are left-padded and responses right-padded, so
    /// the dropped columns are padding when the counts cover the rows' longest prompt and response). Fresh tensors.
    /// </summary>
    internal TrainingBatch Part(Tensor rows, int promptColumns, int responseColumns)
    {
        int first = PromptLength - promptColumns, width = promptColumns + responseColumns;
        Tensor Sequence(Tensor t)
        {
            using Tensor columns = t.narrow(1, first, width);
            return columns.index_select(0, rows);
        }
        Tensor Response(Tensor t)
        {
            using Tensor columns = t.narrow(1, 0, responseColumns);
            return columns.index_select(0, rows);
        }
        return new(
            Sequence(InputIds), Sequence(AttentionMask), Sequence(PositionIds), Response(ResponseMask), Response(OffPolicyMask),
            GroupIds.index_select(0, rows), Rewards.index_select(0, rows), SampleKinds.index_select(0, rows), ResponseLengths.index_select(0, rows),
            Truncated.index_select(0, rows), Response(SamplingLogProbs), Response(SamplingLogProbsMask), promptColumns, Statistics, VocabularySize);
    }

    /// <summary>Copies every tensor to <paramref name="device"/> (a new batch; this one is unchanged).</summary>
    public TrainingBatch To(Device device) => new(
        InputIds.to(device), AttentionMask.to(device), PositionIds.to(device), ResponseMask.to(device), OffPolicyMask.to(device),
        GroupIds.to(device), Rewards.to(device), SampleKinds.to(device), ResponseLengths.to(device), Truncated.to(device),
        SamplingLogProbs.to(device), SamplingLogProbsMask.to(device), PromptLength, Statistics, VocabularySize);

    /// <summary>Disposes every tensor of the batch; later use of the batch throws <see cref="ObjectDisposedException"/>. Idempotent.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        foreach (Tensor t in new[] { inputIds, attentionMask, positionIds, responseMask, offPolicyMask, groupIds, rewards, sampleKinds, responseLengths, truncated, samplingLogProbs, samplingLogProbsMask })
        {
            t.Dispose();
        }
        isOffPolicy?.Dispose();
    }

    private Tensor Live(Tensor t)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return t;
    }
}
