namespace Luffy.Objectives.Batching;

/// <summary>A prompt, its group id and its group of samples after generation: the unit the builder batches.</summary>
/// <param name="GroupId">The group (prompt) id; unique within a batch.</param>
/// <param name="PromptTokens">The prompt's token ids (chat template applied), at least one.</param>
/// <param name="Samples">The group's samples (on-policy rollouts and trace carriers), at least one.</param>
public sealed record PromptInput(long GroupId, IReadOnlyList<int> PromptTokens, IReadOnlyList<SampleInput> Samples)
{
    /// <summary>Rewards per sample, in sample order, as an alternative to <see cref="SampleInput.Reward"/>; must have one entry per sample. The default is <see langword="null"/>.</summary>
    public IReadOnlyList<double>? Rewards { get; init; }
}
