namespace Luffy.Objectives.Experience;

/// <summary>Which stored trajectory of a drawn question <see cref="ExperienceBuffer.ChooseTrajectory"/> replays.</summary>
public enum TrajectorySelection
{
    /// <summary>
    /// The one with the lowest mean next-token entropy under the current policy (the paper's choice and the official script's
    /// <c>exp_metric=ent</c>, <c>argmin</c>; first on ties). The official code computes that entropy with an inverted,
    /// misaligned mask; this is the intended mean over the trajectory's own tokens (docs/objectives.md).
    /// </summary>
    LowestEntropy = 0,

    /// <summary>Uniformly at random among the stored ones (the reference's yaml default <c>random</c>), seeded by (seed, step, question).</summary>
    Random = 1,
}
