namespace Luffy.Objectives.Advantages;

/// <summary>
/// Turns outcome rewards (one per sequence) and group ids into one advantage per sequence. Estimators are
/// small immutable objects; pick one, or write your own (build its result with <see cref="AdvantageResult.Create"/>), and
/// broadcast the result to tokens with <see cref="AdvantageResult.ToTokens"/>. The formulas are in docs/objectives.md.
/// </summary>
public interface IAdvantageEstimator
{
    /// <summary>A short name for logs and configuration, e.g. <c>grpo</c>.</summary>
    string Name { get; }

    /// <summary>Computes the advantages and group statistics of a batch.</summary>
    /// <param name="batch">Rewards (B), group ids (B) and, for some estimators, the response mask or off-policy flags.</param>
    /// <returns>A fresh result owning (B) advantages in the rewards' dtype; dispose it when done.</returns>
    /// <exception cref="ArgumentException">The batch lacks what this estimator needs, or a reward is NaN/Inf.</exception>
    AdvantageResult Compute(RewardBatch batch);
}
