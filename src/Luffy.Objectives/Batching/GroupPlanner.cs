using Luffy.Objectives.Internal;

namespace Luffy.Objectives.Batching;

/// <summary>
/// The plan stage of a mixed-policy group (before generation): for each prompt decides which of its G samples
/// carry an off-policy trace (the last k, cycling through the prompt's traces) and with what prefix ratio, and
/// hands the rollout engine each sample's forced prefix. Deterministic: a plan depends only on the seed, the step
/// and the group id (not on the order in which prompts are planned).
/// </summary>
public sealed class GroupPlanner
{
    /// <summary>Creates a planner with validated options.</summary>
    /// <param name="options">The options; <see langword="null"/> uses the defaults (G = 8, k = 1, full traces).</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public GroupPlanner(GroupPlanOptions? options = null)
    {
        Options = options ?? new GroupPlanOptions();
        Options.Validate();
    }

    /// <summary>The options this planner was created with.</summary>
    public GroupPlanOptions Options { get; }

    /// <summary>Plans one prompt's group.</summary>
    /// <param name="groupId">The prompt's group id.</param>
    /// <param name="traces">The prompt's off-policy traces; none means an all on-policy group.</param>
    /// <param name="step">The training step (≥ 0), for scheduled strategies. The default is 0.</param>
    /// <returns>G sample plans.</returns>
    /// <exception cref="ArgumentException">A trace is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="step"/> is negative.</exception>
    public PromptPlan Plan(long groupId, IReadOnlyList<OffPolicyTrace> traces, long step = 0)
    {
        ArgumentNullException.ThrowIfNull(traces);
        if (step < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "step must be >= 0.");
        }
        for (int i = 0; i < traces.Count; i++)
        {
            if (traces[i] is null || traces[i].Tokens is null || traces[i].Tokens.Count == 0)
            {
                throw new ArgumentException($"group {groupId}: trace {i} is empty.", nameof(traces));
            }
        }

        int g = Options.SamplesPerPrompt;
        int k = traces.Count == 0 ? 0 : Options.TraceCarriers;
        var random = new Random(SeedMixer.Mix(Options.Seed, step, groupId));
        IReadOnlyList<double> ratios = k == 0 ? [] : Options.Strategy.Ratios(k, step, random);
        if (ratios.Count != k)
        {
            throw new InvalidOperationException($"strategy {Options.Strategy.Name} returned {ratios.Count} ratios for {k} carriers.");
        }
        for (int c = 0; c < k; c++)
        {
            if (!(ratios[c] >= 0 && ratios[c] <= 1))
            {
                throw new InvalidOperationException($"strategy {Options.Strategy.Name} returned prefix ratio {ratios[c]} for carrier {c} at step {step}; prefix ratios must be in [0, 1] (the share of the trace that is forced).");
            }
        }

        var samples = new SamplePlan[g];
        for (int i = 0; i < g - k; i++)
        {
            samples[i] = new SamplePlan(i, SampleKind.OnPolicy, null, 0, [], false);
        }
        for (int c = 0; c < k; c++)
        {
            int index = g - k + c;
            bool dropped = Options.TraceDropRate > 0 && random.NextDouble() < Options.TraceDropRate;
            if (dropped)
            {
                samples[index] = new SamplePlan(index, SampleKind.OnPolicy, null, 0, [], true);
                continue;
            }
            OffPolicyTrace trace = traces[c % traces.Count];
            double ratio = ratios[c];
            if (ratio >= 1)
            {
                samples[index] = new SamplePlan(index, SampleKind.FullTrace, trace, 1, [.. trace.Tokens], false);
            }
            else
            {
                int prefix = (int)Math.Floor(ratio * trace.Tokens.Count);
                samples[index] = new SamplePlan(index, SampleKind.PrefixContinuation, trace, ratio, [.. trace.Tokens.Take(prefix)], false);
            }
        }
        return new PromptPlan(groupId, step, samples);
    }
}
