namespace Luffy.Objectives.Tests.Support;

/// <summary>Runs a body with the host SIMD loops limited to a lane width (16: AVX-512, 8: AVX2, 1: scalar), so one machine tests every width.</summary>
internal static class LaneWidth
{
    /// <summary>Runs <paramref name="body"/> with <see cref="FusedPolicyLoss.MaxLanesOverride"/> set to <paramref name="lanes"/>, restoring it afterwards.</summary>
    public static T With<T>(int lanes, Func<T> body) => ThreadOverride.With(ref FusedPolicyLoss.MaxLanesOverride, lanes, body);
}
