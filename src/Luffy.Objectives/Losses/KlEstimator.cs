namespace Luffy.Objectives.Losses;

/// <summary>Per-token estimators of KL(πθ ‖ π_ref) from the log-probs of the sampled token.</summary>
public enum KlEstimator
{
    /// <summary>k1: logp − ref.</summary>
    K1,

    /// <summary>|logp − ref|.</summary>
    Absolute,

    /// <summary>k2: ½·(logp − ref)².</summary>
    K2,

    /// <summary>k3 (low variance, the default): exp(ref − logp) − (ref − logp) − 1, clamped to [−10, 10].</summary>
    K3,
}
