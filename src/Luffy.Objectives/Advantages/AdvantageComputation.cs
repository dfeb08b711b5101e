using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>The common frame of every built-in estimator: validate, index groups, compute, collect statistics.</summary>
internal static class AdvantageComputation
{
    /// <summary>Runs <paramref name="compute"/> (and <paramref name="tokenLevel"/>, if given) without gradients inside a dispose scope.</summary>
    public static AdvantageResult Run(
        RewardBatch batch,
        string estimator,
        Func<GroupIndex, Tensor> compute,
        bool requiresResponseMask = false,
        bool requiresOffPolicyFlags = false,
        bool requiresBaselineRewards = false,
        Func<GroupIndex, Tensor>? tokenLevel = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        batch.Validate(requiresResponseMask, requiresOffPolicyFlags, requiresBaselineRewards, estimator);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var index = new GroupIndex(batch.Rewards.detach(), batch.GroupIds);
        Tensor advantages = compute(index).contiguous();
        Tensor? tokens = tokenLevel?.Invoke(index).contiguous();
        Tensor statistics = index.StatisticsTensor();
        return new AdvantageResult(advantages.MoveToOuterDisposeScope(), statistics.MoveToOuterDisposeScope(), tokens?.MoveToOuterDisposeScope());
    }
}
