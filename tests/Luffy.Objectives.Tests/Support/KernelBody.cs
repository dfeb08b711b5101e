namespace Luffy.Objectives.Tests.Support;

/// <summary>Runs a body with the fused kernel's rows forced through its general SIMD body, the one that handles every option.</summary>
internal static class KernelBody
{
    /// <summary>Runs <paramref name="body"/> with <see cref="FusedPolicyLoss.GeneralBodyOverride"/> set, restoring it afterwards.</summary>
    public static T General<T>(Func<T> body) => ThreadOverride.With(ref FusedPolicyLoss.GeneralBodyOverride, true, body);
}
