namespace Luffy.Objectives.Experience;

/// <summary>
/// One step's batch composition (<see cref="ExperienceBuffer.PlanBatch"/>): the questions replayed from the buffer (each a
/// group of one replayed trajectory and G − 1 fresh samples) and the loader's questions rolled out fresh (G fresh samples).
/// </summary>
/// <param name="Replay">Question ids drawn from the buffer, distinct, in draw order (buckets in ascending k).</param>
/// <param name="Fresh">The first B − n_exp question ids the loader gave, in order; the loader's others are not used this step.</param>
public sealed record ReplayPlan(IReadOnlyList<long> Replay, IReadOnlyList<long> Fresh);
