namespace Luffy.Objectives.Batching;

/// <summary>An off-policy trace for a prompt, as response token ids: a stronger model's solution (LUFFY) or a replayed trajectory of the policy's own (ExGRPO).</summary>
/// <param name="Tokens">The trace's token ids. The builder appends an EOS to a full trace when <see cref="BatchBuilderOptions.AppendEosToTraces"/>, unless the trace already ends with one.</param>
/// <param name="BehaviourLogProbs">Optional log-probs of the tokens under the model that wrote the trace; same length as <paramref name="Tokens"/>. The default is <see langword="null"/>.</param>
/// <param name="Source">Where the trace comes from (counted in <see cref="BatchStatistics.ReplayedSamples"/>). The default is <see cref="TraceSource.Demonstration"/>.</param>
public sealed record OffPolicyTrace(IReadOnlyList<int> Tokens, IReadOnlyList<float>? BehaviourLogProbs = null, TraceSource Source = TraceSource.Demonstration);
