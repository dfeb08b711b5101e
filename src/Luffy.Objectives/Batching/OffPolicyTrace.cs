namespace Luffy.Objectives.Batching;

/// <summary>An off-policy demonstration for a prompt, e.g. a stronger model's solution, as response token ids.</summary>
/// <param name="Tokens">The trace's token ids, without EOS (the builder appends one when <see cref="BatchBuilderOptions.AppendEosToTraces"/>).</param>
/// <param name="BehaviourLogProbs">Optional log-probs of the tokens under the model that wrote the trace; same length as <paramref name="Tokens"/>. The default is <see langword="null"/>.</param>
public sealed record OffPolicyTrace(IReadOnlyList<int> Tokens, IReadOnlyList<float>? BehaviourLogProbs = null);
