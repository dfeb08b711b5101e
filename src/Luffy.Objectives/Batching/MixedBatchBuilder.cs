using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Luffy.Objectives.Batching;

/// <summary>
/// Builds the padded tensors of a mixed-policy batch from prompts, their on-policy rollouts and off-policy trace
/// carriers (the build stage; <see cref="GroupPlanner"/> is the plan stage). Work happens on the host; the
/// tensors are created once and moved to the target device once, at the end.
/// </summary>
public sealed class MixedBatchBuilder
{
    private readonly HashSet<int> eos;

    /// <summary>Creates a builder with validated options.</summary>
    /// <param name="options">The options (the EOS token ids have no default).</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="ArgumentException"><see cref="BatchBuilderOptions.EosTokenIds"/> is empty.</exception>
    public MixedBatchBuilder(BatchBuilderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Options.Validate();
        eos = [.. Options.EosTokenIds];
    }

    /// <summary>The options this builder was created with.</summary>
    public BatchBuilderOptions Options { get; }

    /// <summary>Builds one batch.</summary>
    /// <param name="prompts">The prompts with their samples; group ids must be unique.</param>
    /// <param name="rewardFunction">Computes a sample's reward when neither the sample nor the prompt gives one; receives the prompt, the sample and its response tokens (through the first EOS, after truncation). The default is <see langword="null"/>.</param>
    /// <param name="device">Where the tensors go (not the meta device). The default is <see langword="null"/>: the CPU.</param>
    /// <returns>A fresh batch owning its tensors.</returns>
    /// <exception cref="ArgumentException">Bad input (the message names the prompt index, the sample index and the problem: e.g. a full trace of 0 tokens without an appended EOS), or <paramref name="device"/> is the meta device.</exception>
    public TrainingBatch Build(IReadOnlyList<PromptInput> prompts, Func<PromptInput, SampleInput, IReadOnlyList<int>, double>? rewardFunction = null, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (device?.type == TorchSharp.DeviceType.META)
        {
            throw new ArgumentException("device is the meta device, which holds shapes but no data; build on the CPU or an accelerator.", nameof(device));
        }
        if (prompts.Count == 0)
        {
            throw new ArgumentException("prompts is empty; a batch needs at least one prompt.", nameof(prompts));
        }

        var rows = new List<Row>();
        var seenGroups = new Dictionary<long, int>();
        int truncatedPrompts = 0, truncatedTraces = 0, truncatedResponses = 0, droppedTraces = 0, droppedGroups = 0, droppedSamples = 0;
        int solveNone = 0, solveAll = 0, groups = 0;
        for (int p = 0; p < prompts.Count; p++)
        {
            PromptInput prompt = prompts[p] ?? throw new ArgumentException($"prompt {p} is null.", nameof(prompts));
            if (seenGroups.TryGetValue(prompt.GroupId, out int first))
            {
                throw new ArgumentException($"prompt {p} has group id {prompt.GroupId}, already used by prompt {first}; group ids must be unique in a batch.", nameof(prompts));
            }
            seenGroups[prompt.GroupId] = p;
            if (prompt.PromptTokens is null || prompt.PromptTokens.Count == 0)
            {
                throw new ArgumentException($"prompt {p} is empty; a prompt needs at least one token.", nameof(prompts));
            }
            if (prompt.Samples is null || prompt.Samples.Count == 0)
            {
                throw new ArgumentException($"prompt {p} has no samples (empty group).", nameof(prompts));
            }
            if (prompt.Rewards is not null && prompt.Rewards.Count != prompt.Samples.Count)
            {
                throw new ArgumentException($"prompt {p} has {prompt.Rewards.Count} rewards but {prompt.Samples.Count} samples; they must match.", nameof(prompts));
            }
            CheckVocabulary(prompt.PromptTokens, p, "prompt");

            int[] promptTokens = [.. prompt.PromptTokens];
            bool promptTruncated = false;
            if (promptTokens.Length > Options.MaxPromptLength)
            {
                if (Options.PromptOverflow == PromptOverflow.Reject)
                {
                    throw new ArgumentException($"prompt {p} has {promptTokens.Length} tokens but MaxPromptLength is {Options.MaxPromptLength}; shorten it or set PromptOverflow = TruncateLeft.", nameof(prompts));
                }
                promptTokens = promptTokens[^Options.MaxPromptLength..];
                promptTruncated = true;
            }

            var groupRows = new List<Row>();
            for (int s = 0; s < prompt.Samples.Count; s++)
            {
                SampleInput sample = prompt.Samples[s] ?? throw new ArgumentException($"prompt {p} sample {s} is null.", nameof(prompts));
                Row row = BuildRow(prompt, p, s, sample, promptTokens, rewardFunction);
                groupRows.Add(row);
            }

            bool uniform = groupRows.All(r => r.Reward == groupRows[0].Reward);
            if (uniform && Options.DropUniformGroups)
            {
                droppedGroups++;
                droppedSamples += groupRows.Count;
                continue;
            }
            groups++;
            truncatedPrompts += promptTruncated ? 1 : 0;
            truncatedTraces += groupRows.Count(r => r.TraceTruncated);
            truncatedResponses += groupRows.Count(r => r.ResponseTruncated);
            droppedTraces += groupRows.Count(r => r.Sample.TraceDropped);
            solveNone += groupRows.Any(Solved) ? 0 : 1;
            solveAll += groupRows.All(Solved) ? 1 : 0;
            rows.AddRange(groupRows);
        }

        if (rows.Count == 0)
        {
            throw new ArgumentException($"every group was removed by DropUniformGroups ({droppedGroups} groups, {droppedSamples} samples); nothing is left to train on.", nameof(prompts));
        }

        Row[] carriers = rows.Where(r => r.Sample.Kind != SampleKind.OnPolicy).ToArray();
        Row[] onPolicy = rows.Where(r => r.Sample.Kind == SampleKind.OnPolicy).ToArray();
        var statistics = new BatchStatistics(
            Sequences: rows.Count,
            Groups: groups,
            AveragePrefixRatio: carriers.Length == 0 ? 0 : carriers.Average(r => r.PrefixRatio),
            SolveNone: solveNone,
            SolveAll: solveAll,
            OnSolved: onPolicy.Count(Solved),
            OffSolved: carriers.Count(Solved),
            MeanOnResponseLength: onPolicy.Length == 0 ? 0 : onPolicy.Average(r => r.Length),
            MeanOffResponseLength: carriers.Length == 0 ? 0 : carriers.Average(r => r.Length),
            OffOnExampleRatio: onPolicy.Length == 0 ? 0 : (double)carriers.Length / onPolicy.Length,
            TruncatedResponses: truncatedResponses,
            TruncatedTraces: truncatedTraces,
            TruncatedPrompts: truncatedPrompts,
            DroppedTraces: droppedTraces,
            DroppedGroups: droppedGroups,
            DroppedSamples: droppedSamples,
            ReplayedSamples: carriers.Count(r => r.Sample.Trace?.Source == TraceSource.Experience));

        return Assemble(rows, statistics, device);
    }

    /// <summary>Writes the rows straight into the tensors' memory (no intermediate managed arrays of B·(P+T)).</summary>
    private TrainingBatch Assemble(List<Row> rows, BatchStatistics statistics, Device? device)
    {
        int b = rows.Count;
        int promptLength = rows.Max(r => r.Prompt.Length);
        int responseLength = Math.Max(1, rows.Max(r => r.Response.Length));
        int width = promptLength + responseLength;
        Tensor inputIdsTensor = full(new long[] { b, width }, Options.PadTokenId, dtype: ScalarType.Int64);
        Tensor attentionTensor = zeros(new long[] { b, width }, dtype: ScalarType.Int64);
        Tensor positionsTensor = zeros(new long[] { b, width }, dtype: ScalarType.Int64);
        Tensor responseMaskTensor = zeros(new long[] { b, responseLength }, dtype: ScalarType.Bool);
        Tensor offMaskTensor = zeros(new long[] { b, responseLength }, dtype: ScalarType.Bool);
        Tensor logProbsTensor = zeros(new long[] { b, responseLength }, dtype: ScalarType.Float32);
        Tensor logProbsMaskTensor = zeros(new long[] { b, responseLength }, dtype: ScalarType.Bool);
        Span<long> inputIds = MemoryMarshal.Cast<byte, long>(inputIdsTensor.bytes);
        Span<long> attention = MemoryMarshal.Cast<byte, long>(attentionTensor.bytes);
        Span<long> positions = MemoryMarshal.Cast<byte, long>(positionsTensor.bytes);
        Span<bool> responseMask = MemoryMarshal.Cast<byte, bool>(responseMaskTensor.bytes);
        Span<bool> offMask = MemoryMarshal.Cast<byte, bool>(offMaskTensor.bytes);
        Span<float> logProbs = MemoryMarshal.Cast<byte, float>(logProbsTensor.bytes);
        Span<bool> logProbsMask = MemoryMarshal.Cast<byte, bool>(logProbsMaskTensor.bytes);
        var groupIds = new long[b];
        var rewards = new float[b];
        var kinds = new long[b];
        var lengths = new long[b];
        var truncated = new bool[b];

        for (int i = 0; i < b; i++)
        {
            Row row = rows[i];
            int promptOffset = promptLength - row.Prompt.Length;
            Span<long> idsRow = inputIds.Slice(i * width, width);
            Span<long> attentionRow = attention.Slice(i * width, width);
            for (int j = 0; j < row.Prompt.Length; j++)
            {
                idsRow[promptOffset + j] = row.Prompt[j];
                attentionRow[promptOffset + j] = 1;
            }
            int responseOffset = i * responseLength;
            for (int j = 0; j < row.Response.Length; j++)
            {
                idsRow[promptLength + j] = row.Response[j];
                attentionRow[promptLength + j] = 1;
                responseMask[responseOffset + j] = true;
                offMask[responseOffset + j] = j < row.OffPolicyLength;
                logProbs[responseOffset + j] = row.LogProbs[j];
                logProbsMask[responseOffset + j] = row.HasLogProb[j];
            }
            Span<long> positionRow = positions.Slice(i * width, width);
            long position = 0;
            for (int j = 0; j < width; j++)
            {
                positionRow[j] = attentionRow[j] == 1 ? position++ : Math.Max(0, position - 1);
            }
            groupIds[i] = row.GroupId;
            rewards[i] = (float)row.Reward;
            kinds[i] = (long)row.Sample.Kind;
            lengths[i] = row.Length;
            truncated[i] = row.ResponseTruncated || row.TraceTruncated;
        }

        Device target = device ?? CPU;
        long[] flat = [b];
        return new TrainingBatch(
            Move(inputIdsTensor, target), Move(attentionTensor, target), Move(positionsTensor, target),
            Move(responseMaskTensor, target), Move(offMaskTensor, target),
            Move(tensor(groupIds, flat), target), Move(tensor(rewards, flat), target), Move(tensor(kinds, flat), target),
            Move(tensor(lengths, flat), target), Move(tensor(truncated, flat), target),
            Move(logProbsTensor, target), Move(logProbsMaskTensor, target),
            promptLength, statistics, Options.VocabularySize);
    }

    private static Tensor Move(Tensor t, Device device)
    {
        if (device.type == TorchSharp.DeviceType.CPU)
        {
            return t;
        }
        Tensor moved = t.to(device);
        t.Dispose();
        return moved;
    }

    private Row BuildRow(PromptInput prompt, int p, int s, SampleInput sample, int[] promptTokens, Func<PromptInput, SampleInput, IReadOnlyList<int>, double>? rewardFunction)
    {
        OffPolicyTrace? trace = sample.Trace;
        // a trace that already ends with an EOS (a replayed trajectory stores its own) gets no second one
        bool appendEos = sample.Kind == SampleKind.FullTrace && Options.AppendEosToTraces && (trace!.Tokens.Count == 0 || !eos.Contains(trace.Tokens[^1]));
        int forced = sample.PrefixLength + (appendEos ? 1 : 0);
        bool traceTruncated = false, responseTruncated = sample.Finish == FinishReason.Length;
        if (trace is not null)
        {
            if (trace.BehaviourLogProbs is not null && trace.BehaviourLogProbs.Count != trace.Tokens.Count)
            {
                throw new ArgumentException($"prompt {p} sample {s}: the trace has {trace.Tokens.Count} tokens but {trace.BehaviourLogProbs.Count} behaviour log-probs.", "prompts");
            }
            CheckLogProbs(trace.BehaviourLogProbs, p, s, "behaviour log-prob");
            if (!Enum.IsDefined(trace.Source))
            {
                throw new ArgumentException($"prompt {p} sample {s}: the trace's source is {trace.Source}, which is not a TraceSource (Demonstration or Experience).", "prompts");
            }
            CheckVocabulary(trace.Tokens, p, $"sample {s} trace");
            if (forced > Options.MaxResponseLength)
            {
                if (!Options.TruncateTraces)
                {
                    throw new ArgumentException($"prompt {p} sample {s}: the forced trace has {forced} tokens (EOS included) but MaxResponseLength is {Options.MaxResponseLength} and TruncateTraces is off.", "prompts");
                }
                traceTruncated = true;
            }
        }
        if (sample.Kind == SampleKind.FullTrace && forced == 0)
        {
            throw new ArgumentException($"prompt {p} sample {s} is a full trace of 0 tokens without an appended EOS (AppendEosToTraces is off): its row would be empty. Give the trace at least one token.", "prompts");
        }
        if (sample.GeneratedLogProbs is not null && sample.GeneratedLogProbs.Count != sample.Generated.Count)
        {
            throw new ArgumentException($"prompt {p} sample {s}: {sample.Generated.Count} generated tokens but {sample.GeneratedLogProbs.Count} sampling log-probs.", "prompts");
        }
        CheckLogProbs(sample.GeneratedLogProbs, p, s, "sampling log-prob");
        CheckVocabulary(sample.Generated, p, $"sample {s}");

        // token j of the response: the forced trace prefix (plus EOS for a full trace), then the generated tokens
        int TokenAt(int j) => j < sample.PrefixLength ? trace!.Tokens[j] : j < forced ? Options.EosTokenIds[0] : sample.Generated[j - forced];
        int total = forced + sample.Generated.Count;

        // The response ends at the first EOS (inclusive); what follows is ignored.
        int end = total;
        for (int j = 0; j < total; j++)
        {
            if (eos.Contains(TokenAt(j)))
            {
                end = j + 1;
                break;
            }
        }
        if (end > Options.MaxResponseLength)
        {
            end = Options.MaxResponseLength;
            responseTruncated |= !traceTruncated;
        }
        var response = new int[end];
        var logProbs = new float[end];
        var hasLogProb = new bool[end];
        for (int j = 0; j < end; j++)
        {
            response[j] = TokenAt(j);
            IReadOnlyList<float>? source = j < sample.PrefixLength ? trace!.BehaviourLogProbs : j < forced ? null : sample.GeneratedLogProbs;
            if (source is not null)
            {
                logProbs[j] = source[j < forced ? j : j - forced];
                hasLogProb[j] = true;
            }
        }
        int offPolicyLength = Math.Min(forced, end);

        double reward = sample.Reward ?? prompt.Rewards?[s]
            ?? (rewardFunction is null
                ? throw new ArgumentException($"prompt {p} sample {s} has no reward: give SampleInput.Reward, PromptInput.Rewards or a reward function.", "prompts")
                : rewardFunction(prompt, sample, response));
        if (!double.IsFinite(reward))
        {
            throw new ArgumentException($"prompt {p} sample {s} has reward {reward}; rewards must be finite (no NaN or Inf).", "prompts");
        }

        double prefixRatio = trace is null || trace.Tokens.Count == 0 ? (sample.Kind == SampleKind.FullTrace ? 1 : 0) : (double)sample.PrefixLength / trace.Tokens.Count;
        return new Row(prompt.GroupId, promptTokens, response, logProbs, hasLogProb, offPolicyLength, reward, sample, prefixRatio, traceTruncated, responseTruncated);
    }

    /// <summary>Whether a sample counts as solved in the statistics (<see cref="BatchBuilderOptions.SolvedReward"/>).</summary>
    private bool Solved(Row row) => row.Reward >= Options.SolvedReward;

    /// <summary>Log-probs of sampled tokens are finite and ≤ 0 (a sampled token has a probability in (0, 1]).</summary>
    private static void CheckLogProbs(IReadOnlyList<float>? logProbs, int prompt, int sample, string what)
    {
        if (logProbs is null)
        {
            return;
        }
        for (int j = 0; j < logProbs.Count; j++)
        {
            if (!float.IsFinite(logProbs[j]) || logProbs[j] > 0)
            {
                throw new ArgumentException($"prompt {prompt} sample {sample}: {what} {j} is {logProbs[j]}; log-probs must be finite and <= 0.", "prompts");
            }
        }
    }

    private void CheckVocabulary(IReadOnlyList<int> tokens, int prompt, string what)
    {
        int vocabulary = Options.VocabularySize ?? int.MaxValue;
        for (int j = 0; j < tokens.Count; j++)
        {
            if (tokens[j] < 0 || tokens[j] >= vocabulary)
            {
                string range = Options.VocabularySize is null ? "must be >= 0" : $"must be in [0, {vocabulary})";
                throw new ArgumentException($"prompt {prompt} {what}: token {j} is {tokens[j]}; token ids {range}.", "prompts");
            }
        }
    }

    private sealed record Row(long GroupId, int[] Prompt, int[] Response, float[] LogProbs, bool[] HasLogProb, int OffPolicyLength, double Reward, SampleInput Sample, double PrefixRatio, bool TraceTruncated, bool ResponseTruncated)
    {
        public int Length => Response.Length;
    }
}
