namespace Luffy.Objectives.Advantages;

/// <summary>
/// ReMax (verl's <c>remax</c>): A_i = r_i − b_i with b_i the reward of the greedy response to the same prompt, given as
/// <see cref="RewardBatch.BaselineRewards"/>. verl computes R_t − b·m with R_t the reverse cumulative sum of the token
/// rewards; with the outcome reward on the last response token that is r − b on every response token, i.e. one
/// advantage per sequence. Group ids are not used (statistics only).
/// </summary>
public sealed record ReMaxAdvantage : IAdvantageEstimator
{
    /// <inheritdoc />
    public string Name => "remax";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) =>
        AdvantageComputation.Run(batch, nameof(ReMaxAdvantage), index => index.Rewards - batch.BaselineRewards!.detach(), requiresBaselineRewards: true);
}
