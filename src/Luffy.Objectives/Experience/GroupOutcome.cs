namespace Luffy.Objectives.Experience;

/// <summary>What <see cref="ExperienceBuffer.RecordGroup"/> did with a finished group.</summary>
public enum GroupOutcome
{
    /// <summary>Every member was correct: the question is retired for good (removed from the buffer, never collected again).</summary>
    Retired = 0,

    /// <summary>The question went to bucket k and its new correct trajectories were stored.</summary>
    Collected = 1,

    /// <summary>No member was correct: nothing changes (the question keeps its bucket and stored trajectories, as in the reference).</summary>
    Unsolved = 2,

    /// <summary>k is outside (<see cref="ExperienceOptions.CollectLowerBound"/>, <see cref="ExperienceOptions.CollectUpperBound"/>]: nothing changes.</summary>
    OutsideCollectRange = 3,

    /// <summary>The buffer is still warming up (<see cref="ExperienceBuffer.ReplayStarted"/> is false): only retirement applies, as in the reference.</summary>
    WarmingUp = 4,

    /// <summary>The question was retired earlier: nothing changes.</summary>
    AlreadyRetired = 5,
}
