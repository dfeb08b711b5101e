namespace Luffy.Objectives.Batching;

/// <summary>What a sample of a mixed-policy group is made of.</summary>
public enum SampleKind
{
    /// <summary>Generated entirely by the policy (an on-policy rollout).</summary>
    OnPolicy = 0,

    /// <summary>A whole off-policy trace (plus EOS), no generation: LUFFY's main run (prefix ratio 1).</summary>
    FullTrace = 1,

    /// <summary>A forced prefix of an off-policy trace followed by the policy's own continuation.</summary>
    PrefixContinuation = 2,
}
