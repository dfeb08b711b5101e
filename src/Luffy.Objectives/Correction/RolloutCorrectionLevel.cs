namespace Luffy.Objectives.Correction;

/// <summary>The level at which <see cref="RolloutCorrection"/> computes importance weights (verl's <c>rollout_is</c>).</summary>
public enum RolloutCorrectionLevel
{
    /// <summary>One weight per token, exp(old − rollout) (biased, low variance). The default.</summary>
    Token,

    /// <summary>One weight per sequence, exp(Σ_t (old − rollout)) over its corrected tokens, broadcast (unbiased, high variance).</summary>
    Sequence,
}
