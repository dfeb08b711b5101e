namespace Luffy.Objectives.Batching;

/// <summary>Options of <see cref="MixedBatchBuilder"/>. Immutable; validated when a builder is created. <see cref="EosTokenIds"/> must be given.</summary>
public sealed record BatchBuilderOptions
{
    /// <summary>Longest prompt kept, ≥ 1. The default is 1024.</summary>
    public int MaxPromptLength { get; init; } = 1024;

    /// <summary>What happens to longer prompts. The default is <see cref="PromptOverflow.Reject"/>.</summary>
    public PromptOverflow PromptOverflow { get; init; } = PromptOverflow.Reject;

    /// <summary>Longest response kept, ≥ 1; longer responses are truncated and flagged. The default is 1024 (LUFFY: 8192).</summary>
    public int MaxResponseLength { get; init; } = 1024;

    /// <summary>Truncate traces longer than <see cref="MaxResponseLength"/> (flagged) instead of rejecting them. The default is <see langword="true"/>.</summary>
    public bool TruncateTraces { get; init; } = true;

    /// <summary>The padding token id, ≥ 0. The default is 0.</summary>
    public int PadTokenId { get; init; }

    /// <summary>
    /// EOS token ids (at least one): a response ends at the first of them, and full traces get the first one appended.
    /// Required: there is no default, since every tokenizer numbers its EOS differently (Qwen2.5: 151643 and 151645).
    /// </summary>
    public required IReadOnlyList<int> EosTokenIds { get; init; }

    /// <summary>Append the first EOS id to full traces that do not already end with an EOS id (so the policy learns to stop). The default is <see langword="true"/>.</summary>
    public bool AppendEosToTraces { get; init; } = true;

    /// <summary>When set, every token id must be in [0, VocabularySize). The default is <see langword="null"/> (not checked).</summary>
    public int? VocabularySize { get; init; }

    /// <summary>Remove groups whose rewards are all equal (they give zero advantage; "dynamic filtering"), counted in the statistics. The default is <see langword="false"/>.</summary>
    public bool DropUniformGroups { get; init; }

    /// <summary>
    /// The reward from which a sample counts as solved in <see cref="BatchStatistics"/> (SolveAll, SolveNone, OnSolved,
    /// OffSolved): solved when reward ≥ this, unsolved otherwise. The default is 1, the 0/1-reward convention of the
    /// reference; set it for other reward scales (e.g. 0.5 for partial credit in [0, 1], or a small positive value for
    /// ±1 rewards). Finite. It changes only the statistics, never the batch.
    /// </summary>
    public double SolvedReward { get; init; } = 1.0;

    /// <summary>Throws when an option is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="ArgumentException"><see cref="EosTokenIds"/> is empty.</exception>
    public void Validate()
    {
        if (MaxPromptLength < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPromptLength), MaxPromptLength, "MaxPromptLength must be >= 1.");
        }
        if (MaxResponseLength < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxResponseLength), MaxResponseLength, "MaxResponseLength must be >= 1.");
        }
        if (!Enum.IsDefined(PromptOverflow))
        {
            throw new ArgumentOutOfRangeException(nameof(PromptOverflow), PromptOverflow, "Unknown PromptOverflow value.");
        }
        if (!double.IsFinite(SolvedReward))
        {
            throw new ArgumentOutOfRangeException(nameof(SolvedReward), SolvedReward, "SolvedReward must be a finite reward.");
        }
        if (PadTokenId < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(PadTokenId), PadTokenId, "PadTokenId must be >= 0.");
        }
        if (EosTokenIds is null || EosTokenIds.Count == 0)
        {
            throw new ArgumentException("EosTokenIds must name at least one EOS token id.", nameof(EosTokenIds));
        }
        if (EosTokenIds.FirstOrDefault(id => id < 0, 0) is var negative && negative < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(EosTokenIds), negative, $"EosTokenIds contains {negative}; token ids must be >= 0 (an EOS id is written into InputIds after a full trace).");
        }
        if (VocabularySize is { } v)
        {
            if (v < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(VocabularySize), v, "VocabularySize must be >= 1 (or null).");
            }
            int? bad = EosTokenIds.Append(PadTokenId).Where(id => id < 0 || id >= v).Select(id => (int?)id).FirstOrDefault();
            if (bad is not null)
            {
                throw new ArgumentOutOfRangeException(nameof(VocabularySize), v, $"PadTokenId and EosTokenIds must be in [0, {v}); {bad} is not.");
            }
        }
    }
}
