namespace Luffy.Objectives.Advantages;

/// <summary>
/// Group statistics of one reward batch, as the reference implementation logs them. Read once, on request,
/// from <see cref="AdvantageResult.Statistics"/>.
/// </summary>
/// <param name="GroupCount">The number of distinct groups (prompts).</param>
/// <param name="SolveAll">Groups where every reward is ≥ 1 ("solve_all", for 0/1 rewards: every sample correct; groups of one included).</param>
/// <param name="SolveNone">Groups where every reward is ≤ 0 ("solve_none", for 0/1 rewards: no sample correct; groups of one included).</param>
/// <param name="UniformGroups">Groups of two or more samples that all have the same reward; their advantages are exactly 0 (except after REINFORCE++ whitening). A group of one is never counted here.</param>
/// <param name="RewardMean">Mean reward over the batch.</param>
/// <param name="RewardStd">Unbiased standard deviation of the rewards over the batch (0 for a single sequence).</param>
public sealed record GroupStatistics(long GroupCount, long SolveAll, long SolveNone, long UniformGroups, double RewardMean, double RewardStd);
