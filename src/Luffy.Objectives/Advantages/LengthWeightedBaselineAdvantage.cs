using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// OPO (optimal-baseline policy optimization): A_i = r_i − b_g with the length-weighted baseline
/// b_g = Σ_j |o_j|·r_j / Σ_j |o_j| over the group, |o_j| the response length from
/// <see cref="RewardBatch.ResponseMask"/>. A group whose responses are all empty uses b = 0; a group whose
/// rewards are all equal gets exactly 0.
/// </summary>
public sealed class LengthWeightedBaselineAdvantage : IAdvantageEstimator
{
    /// <inheritdoc />
    public string Name => "opo";

    /// <inheritdoc />
    public AdvantageResult Compute(RewardBatch batch) => AdvantageComputation.Run(batch, nameof(LengthWeightedBaselineAdvantage), index =>
    {
        Tensor lengths = batch.Lengths()!;
        Tensor baseline = index.Sum(lengths * index.Rewards) / index.Sum(lengths).clamp_min(1e-30);
        return index.ZeroUniformGroups(index.Rewards - index.Expand(baseline));
    }, requiresResponseMask: true);
}
