namespace Luffy.Objectives.Batching;

/// <summary>Where an off-policy trace comes from; counted separately in <see cref="BatchStatistics"/>.</summary>
public enum TraceSource
{
    /// <summary>A demonstration written by another model, e.g. a stronger model's solution (LUFFY).</summary>
    Demonstration = 0,

    /// <summary>The policy's own earlier correct rollout, replayed from an experience buffer (ExGRPO; <c>Experience.ExperienceTrajectory.ToTrace</c>).</summary>
    Experience = 1,
}
