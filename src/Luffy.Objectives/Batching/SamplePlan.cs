namespace Luffy.Objectives.Batching;

/// <summary>The plan of one sample of a group: what the rollout engine must generate for it.</summary>
/// <param name="Index">The sample's index in its group (0..G−1).</param>
/// <param name="Kind">On-policy, full trace (nothing to generate) or prefix + continuation.</param>
/// <param name="Trace">The carried trace; <see langword="null"/> for on-policy samples.</param>
/// <param name="PrefixRatio">r ∈ [0, 1] for carriers, 0 otherwise.</param>
/// <param name="ForcedPrefix">The trace tokens to force after the prompt (⌊r·L⌋ of them; the whole trace when r = 1); empty for on-policy samples.</param>
/// <param name="TraceDropped">True when this sample was planned as a carrier but its trace was dropped (see <see cref="GroupPlanOptions.TraceDropRate"/>).</param>
public sealed record SamplePlan(int Index, SampleKind Kind, OffPolicyTrace? Trace, double PrefixRatio, IReadOnlyList<int> ForcedPrefix, bool TraceDropped)
{
    /// <summary>Whether the rollout engine has to generate tokens (after prompt + <see cref="ForcedPrefix"/>).</summary>
    public bool NeedsGeneration => Kind != SampleKind.FullTrace;
}
