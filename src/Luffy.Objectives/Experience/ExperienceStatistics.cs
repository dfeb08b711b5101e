namespace Luffy.Objectives.Experience;

/// <summary>The state of an <see cref="ExperienceBuffer"/>, for logs and metrics.</summary>
/// <param name="Questions">Questions with at least one stored trajectory (the pool replay draws from).</param>
/// <param name="Trajectories">Stored trajectories over all questions.</param>
/// <param name="Retired">Questions retired after an all-correct group.</param>
/// <param name="BucketSizes">Questions per bucket: index k − 1 for k = 1..G − 1.</param>
/// <param name="ReplayStarted">Whether the warm-up has ended.</param>
/// <param name="Evicted">Trajectories evicted by the size bounds so far (a question evicted counts its trajectories).</param>
public sealed record ExperienceStatistics(int Questions, int Trajectories, int Retired, IReadOnlyList<int> BucketSizes, bool ReplayStarted, long Evicted);
