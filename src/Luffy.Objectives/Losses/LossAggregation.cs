namespace Luffy.Objectives.Losses;

/// <summary>How token losses L[b, t] under the response mask m become one scalar.</summary>
public enum LossAggregation
{
    /// <summary>Σ m·L / Σ m (default). With a global normalizer: Σ m·L / (the whole batch's token count).</summary>
    TokenMean,

    /// <summary>Mean over sequences with ≥ 1 token of Σ_t m·L. With a global normalizer: Σ_b Σ_t m·L / (the whole batch's sequence count).</summary>
    SequenceMeanTokenSum,

    /// <summary>Mean over sequences with ≥ 1 token of Σ_t m·L / Σ_t m. With a global normalizer: divided by the whole batch's sequence count.</summary>
    SequenceMeanTokenMean,

    /// <summary>Dr.GRPO (LUFFY's main run): Σ m·L / C with a constant C (default the padded response length T; LUFFY uses 8192).</summary>
    SequenceMeanTokenSumNorm,
}
