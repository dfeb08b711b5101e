using Luffy.Objectives.Advantages;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Shaping;

namespace Luffy.Trainer.Training;

/// <summary>The library objects each mode uses, from the options (the registry-by-name sits here, at the edge).</summary>
public static class ObjectiveFactory
{
    public static MixedPolicyLoss Loss(TrainerOptions o, string mode) => new(mode == "sft"
        ? new PolicyLossOptions
        {
            // SFT: −log p on every trace token = off-policy shaping w·log p with advantage 1.
            Shaping = new LogShaping(1.0),
            Aggregation = LossAggregation.SequenceMeanTokenSumNorm,
            AggregationConstant = o.MaxResponseLength,
        }
        : PolicyLossOptions.LuffyMainRun with
        {
            OnPolicy = o.ClipOnPolicy ? new ClippedSurrogate() : ClippedSurrogate.Unclipped,
            Shaping = new RegularizedShaping(o.Gamma),
            AggregationConstant = o.MaxResponseLength,
            EntropyCoefficient = o.Entropy,
        });

    public static IAdvantageEstimator Advantages(TrainerOptions o) => new GroupNormalizedAdvantage(normalizeByStd: o.StdNormalize);

    public static GroupPlanner Planner(TrainerOptions o, string mode) => new(new GroupPlanOptions
    {
        SamplesPerPrompt = mode == "sft" ? 1 : o.SamplesPerPrompt,
        TraceCarriers = mode switch { "luffy" => o.TracesPerPrompt, "sft" => 1, _ => 0 },
        Strategy = mode == "sft" ? new FullTraceStrategy() : o.PrefixStrategy switch
        {
            "random" => new UniformPrefixStrategy(0, 1),
            "fixed" => new FixedPrefixStrategy(0, 1),
            "linear" => new LinearDecayPrefixStrategy(Math.Max(1, o.Steps), 0.8),
            _ => new FullTraceStrategy(),
        },
        Seed = o.Seed,
    });

    public static MixedBatchBuilder Builder(TrainerOptions o, ITrainingTask task) => new(new BatchBuilderOptions
    {
        MaxPromptLength = task.MaxPromptLength,
        MaxResponseLength = o.MaxResponseLength,
        PadTokenId = task.PadTokenId,
        EosTokenIds = task.EosTokenIds,
        VocabularySize = task.VocabularySize,
        AppendEosToTraces = true,
    });
}
