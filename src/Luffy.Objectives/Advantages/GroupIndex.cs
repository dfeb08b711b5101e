using static TorchSharp.torch;

namespace Luffy.Objectives.Advantages;

/// <summary>
/// Group bookkeeping shared by the estimators: dense group indices, member counts and a member order sorted by
/// group, then reward (descending), then position. Create inside a dispose scope: its tensors are temporaries.
/// Building it reads the number of groups from the device once (torch.unique).
/// </summary>
internal sealed class GroupIndex
{
    public GroupIndex(Tensor rewards, Tensor groupIds)
    {
        Rewards = rewards;
        DType = rewards.dtype;
        (_, Tensor? inverse, Tensor? counts) = groupIds.to_type(ScalarType.Int64).unique(sorted: true, return_inverse: true, return_counts: true);
        Inverse = inverse!;
        CountsLong = counts!;
        GroupCount = CountsLong.shape[0];
        Counts = CountsLong.to_type(DType);

        (_, Tensor byReward) = rewards.sort(0, descending: true, stable: true);
        (_, Tensor byGroup) = Inverse.index_select(0, byReward).sort(0, descending: false, stable: true);
        Order = byReward.index_select(0, byGroup);
        Starts = CountsLong.cumsum(0) - CountsLong;
        Tensor sortedRewards = rewards.index_select(0, Order);
        GroupMax = sortedRewards.index_select(0, Starts);
        GroupMin = sortedRewards.index_select(0, Starts + CountsLong - 1);
        Uniform = GroupMax.eq(GroupMin).logical_and(CountsLong.ge(2));
    }

    public Tensor Rewards { get; }

    public ScalarType DType { get; }

    /// <summary>Dense group index of each sequence, (B) int64 in [0, K).</summary>
    public Tensor Inverse { get; }

    public long GroupCount { get; }

    /// <summary>Members per group, (K) int64.</summary>
    public Tensor CountsLong { get; }

    /// <summary>Members per group, (K) in the rewards' dtype.</summary>
    public Tensor Counts { get; }

    /// <summary>Sequence indices sorted by group, then reward descending, then position; (B) int64.</summary>
    public Tensor Order { get; }

    /// <summary>Offset of each group's first member in <see cref="Order"/>, (K) int64.</summary>
    public Tensor Starts { get; }

    public Tensor GroupMax { get; }

    public Tensor GroupMin { get; }

    /// <summary>
    /// Groups of two or more members that all have the same reward, (K) bool. A group of one is not uniform: it follows
    /// its estimator's rule (mean 0 and std 1 for GRPO, A = r for RLOO and OPO), as the reference implementations do.
    /// </summary>
    public Tensor Uniform { get; }

    /// <summary>Σ over each group's members, (K).</summary>
    public Tensor Sum(Tensor values) => zeros(GroupCount, dtype: values.dtype, device: values.device).index_add(0, Inverse, values, 1);

    /// <summary>Gathers a per-group value back to sequences, (K) → (B).</summary>
    public Tensor Expand(Tensor perGroup) => perGroup.index_select(0, Inverse);

    /// <summary>
    /// Mean and unbiased standard deviation of <paramref name="values"/> over the members selected by
    /// <paramref name="members"/> (all when null). A group with fewer than two selected members gets mean 0 and
    /// std 1 (the GRPO convention for a group of one).
    /// </summary>
    public (Tensor Mean, Tensor Std) Moments(Tensor values, Tensor? members = null)
    {
        Tensor weight = members is null ? ones_like(values) : members.to_type(values.dtype);
        Tensor count = Sum(weight);
        Tensor mean = Sum(values * weight) / count.clamp_min(1);
        Tensor centered = values - Expand(mean);
        Tensor variance = Sum(centered * centered * weight) / (count - 1).clamp_min(1);
        Tensor small = count.lt(2);
        Tensor zero = zeros(1, dtype: values.dtype, device: values.device);
        Tensor one = ones(1, dtype: values.dtype, device: values.device);
        return (where(small, zero, mean), where(small, one, variance.sqrt()));
    }

    /// <summary>
    /// The largest and the smallest of <paramref name="values"/> over each group's members selected by
    /// <paramref name="members"/>, (K) each; a group with no selected member gets −∞ and +∞.
    /// </summary>
    public (Tensor Max, Tensor Min) Extremes(Tensor values, Tensor members)
    {
        // a (B, K) membership matrix: TorchSharp has no scatter_reduce, and B·K stays small for reward batches
        Tensor belongs = Inverse.unsqueeze(1).eq(arange(GroupCount, dtype: ScalarType.Int64, device: values.device).unsqueeze(0)).logical_and(members.unsqueeze(1));
        Tensor column = values.unsqueeze(1);
        Tensor max = where(belongs, column, full(1, double.NegativeInfinity, dtype: values.dtype, device: values.device)).amax([0]);
        Tensor min = where(belongs, column, full(1, double.PositiveInfinity, dtype: values.dtype, device: values.device)).amin([0]);
        return (max, min);
    }

    /// <summary>Sets the advantage of every member of a uniform-reward group (two or more members) to exactly 0.</summary>
    public Tensor ZeroUniformGroups(Tensor advantages) =>
        where(Expand(Uniform), zeros(1, dtype: advantages.dtype, device: advantages.device), advantages);

    /// <summary>[K, solve_all, solve_none, uniform, reward mean, reward std] as a (6) float64 tensor.</summary>
    public Tensor StatisticsTensor()
    {
        Tensor r = Rewards.to_type(ScalarType.Float64);
        long n = r.shape[0];
        Tensor mean = r.mean();
        Tensor std = n > 1 ? r.std(unbiased: true) : zeros_like(mean);
        return stack(new[]
        {
            full(1, (double)GroupCount, dtype: ScalarType.Float64, device: r.device).squeeze(0),
            GroupMin.ge(1).sum().to_type(ScalarType.Float64),
            GroupMax.le(0).sum().to_type(ScalarType.Float64),
            Uniform.sum().to_type(ScalarType.Float64),
            mean,
            std,
        });
    }
}
