using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// RLOO: A_i = r_i − mean of the other members = G/(G−1)·(r_i − mean_g). A group of one sample gets A = r (the reference's rule).
/// A group of two or more samples whose rewards are all equal gets exactly 0.
/// </summary>
public sealed record LeaveOneOutAdvantage : IAdvantageEstimator
{
    /// <inheritdoc />
    public string Name => "rloo";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(LeaveOneOutAdvantage), index =>
    {
        Tensor count = index.Expand(index.Counts);
        Tensor mean = index.Expand(index.Sum(index.Rewards)) / count;
        Tensor leaveOneOut = (index.Rewards - mean) * count / (count - 1).clamp_min(1);
        Tensor advantages = where(count.lt(2), index.Rewards, leaveOneOut);
        return index.ZeroUniformGroups(advantages);
    });
}
