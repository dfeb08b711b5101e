using Luffy.Objectives.Batching;

namespace Luffy.Objectives.Experience;

/// <summary>
/// One stored correct trajectory of a question: its response token ids (as generated, the final EOS included when there
/// was one; never re-tokenized text) and the log-prob of each token under the policy that generated it (ExGRPO's
/// recomputed <c>old</c>, temperature 1). Immutable; validated on creation.
/// </summary>
public sealed record ExperienceTrajectory
{
    /// <summary>Creates a trajectory; the lists are copied.</summary>
    /// <param name="tokens">The response token ids, at least one, each ≥ 0.</param>
    /// <param name="behaviourLogProbs">One log-prob per token, finite and ≤ 0.</param>
    /// <exception cref="ArgumentNullException">A list is null (a trajectory without log-probs cannot be replayed: its importance weight needs them).</exception>
    /// <exception cref="ArgumentException">The trajectory is empty, the lengths differ, a token id is negative, or a log-prob is NaN, infinite or positive.</exception>
    public ExperienceTrajectory(IReadOnlyList<int> tokens, IReadOnlyList<float> behaviourLogProbs)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(behaviourLogProbs, nameof(behaviourLogProbs));
        if (tokens.Count == 0)
        {
            throw new ArgumentException("the trajectory has no tokens; a stored trajectory needs at least one.", nameof(tokens));
        }
        if (behaviourLogProbs.Count != tokens.Count)
        {
            throw new ArgumentException($"the trajectory has {tokens.Count} tokens but {behaviourLogProbs.Count} behaviour log-probs; give one per token (the final EOS included).", nameof(behaviourLogProbs));
        }
        for (int j = 0; j < tokens.Count; j++)
        {
            if (tokens[j] < 0)
            {
                throw new ArgumentException($"token {j} is {tokens[j]}; token ids must be >= 0.", nameof(tokens));
            }
            if (!float.IsFinite(behaviourLogProbs[j]) || behaviourLogProbs[j] > 0)
            {
                throw new ArgumentException($"behaviour log-prob {j} is {behaviourLogProbs[j]}; log-probs of generated tokens must be finite and <= 0.", nameof(behaviourLogProbs));
            }
        }
        Tokens = [.. tokens];
        BehaviourLogProbs = [.. behaviourLogProbs];
    }

    /// <summary>The response token ids.</summary>
    public IReadOnlyList<int> Tokens { get; }

    /// <summary>The behaviour log-prob of each token, same length as <see cref="Tokens"/>.</summary>
    public IReadOnlyList<float> BehaviourLogProbs { get; }

    /// <summary>The trajectory as an off-policy trace (<see cref="TraceSource.Experience"/>) for <see cref="GroupPlanner.Plan"/>: the replayed member of a group.</summary>
    public OffPolicyTrace ToTrace() => new(Tokens, BehaviourLogProbs, TraceSource.Experience);

    /// <summary>Whether two trajectories hold the same tokens (the buffer's dedup rule; log-probs are not compared).</summary>
    /// <param name="tokens">The other trajectory's tokens.</param>
    public bool HasTokens(IReadOnlyList<int> tokens) => tokens is not null && tokens.Count == Tokens.Count && tokens.SequenceEqual(Tokens);

    /// <inheritdoc />
    public bool Equals(ExperienceTrajectory? other) =>
        other is not null && Tokens.SequenceEqual(other.Tokens) && BehaviourLogProbs.SequenceEqual(other.BehaviourLogProbs);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int token in Tokens)
        {
            hash.Add(token);
        }
        return hash.ToHashCode();
    }
}
