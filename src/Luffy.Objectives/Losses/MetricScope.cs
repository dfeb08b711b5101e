namespace Luffy.Objectives.Losses;

/// <summary>Which tokens the on-policy clip fraction and the PPO KL metric average over.</summary>
public enum MetricScope
{
    /// <summary>On-policy response tokens only (default: off-policy tokens are never clipped, so counting them dilutes the metric).</summary>
    OnPolicyTokens,

    /// <summary>All response tokens, off-policy ones included: the reference implementation's quirk, for comparable logs.</summary>
    AllResponseTokens,
}
