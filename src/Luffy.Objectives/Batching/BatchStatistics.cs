namespace Luffy.Objectives.Batching;

/// <summary>
/// What the builder did, as the reference implementation logs it; nothing disappears silently. A sample is
/// "solved" when its reward is ≥ <see cref="BatchBuilderOptions.SolvedReward"/> (default 1, the 0/1-reward convention)
/// and "unsolved" otherwise.
/// </summary>
/// <param name="Sequences">Sequences in the batch (B).</param>
/// <param name="Groups">Groups in the batch.</param>
/// <param name="AveragePrefixRatio">Mean forced-prefix length / trace length over trace carriers (0 without carriers).</param>
/// <param name="SolveNone">Groups whose every sample is unsolved ("solve_none").</param>
/// <param name="SolveAll">Groups whose every sample is solved ("solve_all").</param>
/// <param name="OnSolved">On-policy samples that are solved ("on_solved").</param>
/// <param name="OffSolved">Trace-carrying samples that are solved ("off_solved").</param>
/// <param name="MeanOnResponseLength">Mean response length (tokens under the response mask) of on-policy samples.</param>
/// <param name="MeanOffResponseLength">Mean response length of trace-carrying samples.</param>
/// <param name="OffOnExampleRatio">Trace carriers / on-policy samples ("off_on_example_ratio"; 0 without on-policy samples).</param>
/// <param name="TruncatedResponses">On-policy or continued responses cut at the maximum response length or stopped by the length limit.</param>
/// <param name="TruncatedTraces">Traces (or forced prefixes) cut at the maximum response length.</param>
/// <param name="TruncatedPrompts">Prompts left-truncated to the maximum prompt length.</param>
/// <param name="DroppedTraces">Samples whose trace the plan dropped (they became on-policy rollouts).</param>
/// <param name="DroppedGroups">Groups removed because every reward was equal (dynamic filtering).</param>
/// <param name="DroppedSamples">Samples removed with those groups.</param>
/// <param name="ReplayedSamples">Trace carriers whose trace is a replayed trajectory (<see cref="TraceSource.Experience"/>, ExGRPO); they count among the carriers of <see cref="OffSolved"/> and <see cref="OffOnExampleRatio"/> too. The default is 0.</param>
public sealed record BatchStatistics(
    int Sequences,
    int Groups,
    double AveragePrefixRatio,
    int SolveNone,
    int SolveAll,
    int OnSolved,
    int OffSolved,
    double MeanOnResponseLength,
    double MeanOffResponseLength,
    double OffOnExampleRatio,
    int TruncatedResponses,
    int TruncatedTraces,
    int TruncatedPrompts,
    int DroppedTraces,
    int DroppedGroups,
    int DroppedSamples,
    int ReplayedSamples = 0);
