namespace Luffy.Objectives.Experience;

/// <summary>The result of <see cref="ExperienceBuffer.RecordGroup"/>.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="Correct">k, the group's correct members.</param>
/// <param name="Stored">New trajectories stored (correct members whose tokens were not stored yet).</param>
/// <param name="Evicted">Trajectories and questions the size bounds evicted to make room (<see cref="ExperienceOptions.MaxQuestions"/>, <see cref="ExperienceOptions.MaxTrajectoriesPerQuestion"/>).</param>
public sealed record GroupRecord(GroupOutcome Outcome, int Correct, int Stored, int Evicted);
