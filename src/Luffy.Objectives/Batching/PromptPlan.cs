namespace Luffy.Objectives.Batching;

/// <summary>The plan of one prompt's group: G samples, of which the last k carry an off-policy trace.</summary>
/// <param name="GroupId">The prompt's group id.</param>
/// <param name="Step">The training step the plan was made for.</param>
/// <param name="Samples">The G sample plans, in order.</param>
public sealed record PromptPlan(long GroupId, long Step, IReadOnlyList<SamplePlan> Samples);
