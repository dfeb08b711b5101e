using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// OPO (optimal-baseline policy optimization): A_i = r_i − b_g with the length-weighted baseline
/// b_g = Σ_j |o_j|·r_j / Σ_j |o_j| over the group, |o_j| the response length from
/// <see cref="RewardBatch.ResponseMask"/>. A group of one sample uses b = 0, so A = r (the reference's rule); a group
/// of two or more whose responses are all empty uses b = 0 (the reference divides 0 by 0 there); a group of two or
/// more whose rewards are all equal gets exactly 0.
/// </summary>
public sealed record LengthWeightedBaselineAdvantage : IAdvantageEstimator
{
    /// <inheritdoc />
    public string Name => "opo";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(LengthWeightedBaselineAdvantage), index =>
    {
        Tensor lengths = batch.Lengths()!;
        Tensor baseline = index.Sum(lengths * index.Rewards) / index.Sum(lengths).clamp_min(1e-30);
        baseline = where(index.CountsLong.lt(2), zeros_like(baseline), baseline);
        return index.ZeroUniformGroups(index.Rewards - index.Expand(baseline));
    }, requiresResponseMask: true);
}
