namespace Luffy.Objectives.Batching;

/// <summary>Options of <see cref="GroupPlanner"/>. Immutable; validated when a planner is created.</summary>
public sealed record GroupPlanOptions
{
    /// <summary>G, samples per prompt, ≥ 1. The default is 8 (LUFFY).</summary>
    public int SamplesPerPrompt { get; init; } = 8;

    /// <summary>k, samples per prompt that carry an off-policy trace, in [0, G]. The default is 1 (LUFFY).</summary>
    public int TraceCarriers { get; init; } = 1;

    /// <summary>How carriers choose their prefix ratio. The default is <see cref="FullTraceStrategy"/> (r = 1, LUFFY's main run).</summary>
    public IPrefixRatioStrategy Strategy { get; init; } = new FullTraceStrategy();

    /// <summary>Probability in [0, 1] that a carrier's trace is dropped, making it an on-policy rollout. The default is 0.</summary>
    public double TraceDropRate { get; init; }

    /// <summary>Seed of the planner's random choices; a plan depends only on (seed, step, group id). The default is 0.</summary>
    public int Seed { get; init; }

    /// <summary>Throws when an option is out of range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of its documented range.</exception>
    /// <exception cref="ArgumentNullException"><see cref="Strategy"/> is null.</exception>
    public void Validate()
    {
        if (SamplesPerPrompt < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(SamplesPerPrompt), SamplesPerPrompt, "SamplesPerPrompt must be >= 1.");
        }
        if (TraceCarriers < 0 || TraceCarriers > SamplesPerPrompt)
        {
            throw new ArgumentOutOfRangeException(nameof(TraceCarriers), TraceCarriers, $"TraceCarriers must be in [0, SamplesPerPrompt] = [0, {SamplesPerPrompt}].");
        }
        if (Strategy is null)
        {
            throw new ArgumentNullException(nameof(Strategy), "Strategy must be set; use FullTraceStrategy for LUFFY's main run.");
        }
        if (!(TraceDropRate >= 0 && TraceDropRate <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TraceDropRate), TraceDropRate, "TraceDropRate must be in [0, 1].");
        }
    }
}
