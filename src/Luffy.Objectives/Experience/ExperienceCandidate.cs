namespace Luffy.Objectives.Experience;

/// <summary>One member of a finished group, offered to <see cref="ExperienceBuffer.RecordGroup"/>.</summary>
/// <param name="Tokens">The member's response token ids (through its EOS).</param>
/// <param name="BehaviourLogProbs">
/// The log-prob of each token under the policy that generated it (recomputed at temperature 1, the batch's old log-probs);
/// required for correct members while the buffer collects, ignored otherwise. The default is <see langword="null"/>.
/// </param>
/// <param name="Reward">The member's reward; correct when ≥ <see cref="ExperienceOptions.SolvedReward"/>.</param>
public sealed record ExperienceCandidate(IReadOnlyList<int> Tokens, IReadOnlyList<float>? BehaviourLogProbs, double Reward);
