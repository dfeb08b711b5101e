using Luffy.Objectives.Advantages;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Shaping;

namespace Luffy.Trainer.Training;

/// <summary>
/// A training method: a named option set of the library's objectives on the same loop and budget (same prompts,
/// traces and optimizer steps). The closed list of methods is <see cref="All"/>; <c>--mode</c> names one of them (or
/// compare). Settings shared by every method (learning rate, group size, aggregation, entropy) come from the options;
/// what differs between methods is written here and listed in the README.
/// </summary>
public sealed class TrainingMethod
{
    private readonly Func<int, int, TrainingMethod>? phase;
    private readonly Func<TrainerOptions, NegativeLogLikelihoodLoss>? supervised;

    private readonly Func<TrainerOptions, PolicyLossOptions>? replayLoss;

    private TrainingMethod(string name, string description, bool rollouts, bool carriesTraces, Func<TrainerOptions, PolicyLossOptions> loss, Func<TrainerOptions, IAdvantageEstimator?> advantages, Func<int, int, TrainingMethod>? phase = null, Func<TrainerOptions, NegativeLogLikelihoodLoss>? supervised = null, bool usesGamma = false, Func<TrainerOptions, PolicyLossOptions>? replayLoss = null)
    {
        UsesGamma = usesGamma;
        this.replayLoss = replayLoss;
        this.supervised = supervised;
        Name = name;
        Description = description;
        Rollouts = rollouts;
        CarriesTraces = carriesTraces;
        LossOptions = loss;
        Advantages = advantages;
        this.phase = phase;
    }

    /// <summary>The name on the command line and in results, e.g. <c>luffy</c>.</summary>
    public string Name { get; }

    /// <summary>One line for --help and the README.</summary>
    public string Description { get; }

    /// <summary>Whether the method's loss reads <see cref="TrainerOptions.Gamma"/> (the policy shaping's γ): only then does a sweep try several.</summary>
    public bool UsesGamma { get; }

    /// <summary>Whether the method replays the policy's own earlier correct rollouts from an experience buffer (ExGRPO) instead of carrying external traces.</summary>
    public bool UsesExperience => replayLoss is not null;

    /// <summary>Whether the policy generates (false for SFT, which trains on the traces alone).</summary>
    public bool Rollouts { get; }

    /// <summary>Whether groups carry off-policy traces next to the rollouts.</summary>
    public bool CarriesTraces { get; }

    /// <summary>
    /// Whether <see cref="TrainerOptions.ClipOnPolicy"/> reaches the method's loss: every method with rollouts but
    /// ExGRPO, which keeps its script's clip schedule (sft-grpo through its GRPO half); SFT has no ratio.
    /// </summary>
    public bool UsesOnPolicyClip => Rollouts && !UsesExperience;

    private Func<TrainerOptions, PolicyLossOptions> LossOptions { get; }

    private Func<TrainerOptions, IAdvantageEstimator?> Advantages { get; }

    /// <summary>LUFFY: G − k rollouts + k whole traces per prompt, regularized shaping f(p) = p/(p + γ) on trace tokens (the paper's main run).</summary>
    public static TrainingMethod Luffy { get; } = new("luffy", "LUFFY: rollouts + whole traces per group, policy shaping p/(p+γ) on trace tokens", true, true,
        o => MainRun(o) with { Shaping = new RegularizedShaping(o.Gamma) }, GroupAdvantages, usesGamma: true);

    /// <summary>LUFFY without shaping: the trace tokens' ratio is p itself (the paper's ablation of policy shaping).</summary>
    public static TrainingMethod LuffyNoShaping { get; } = new("luffy-no-shaping", "LUFFY with f(p) = p on trace tokens: the paper's ablation without policy shaping", true, true,
        o => MainRun(o) with { Shaping = new IdentityShaping() }, GroupAdvantages);

    /// <summary>On-policy GRPO: G rollouts per prompt, no traces (zero-RL).</summary>
    public static TrainingMethod Grpo { get; } = new("grpo", "on-policy GRPO (zero-RL): G rollouts per prompt, no traces", true, false,
        MainRun, GroupAdvantages);

    /// <summary>SFT on the traces: the library's negative log-likelihood of every trace token, one trace per prompt (no rollouts).</summary>
    public static TrainingMethod Sft { get; } = new("sft", "supervised fine-tuning on the traces (one per prompt)", false, true,
        o => SupervisedLoss(o).Options, _ => null, supervised: SupervisedLoss);

    /// <summary>RL with an SFT loss (the LUFFY repository's multi-task baseline): GRPO on the rollouts + λ·mean(−log p) on the trace sequences.</summary>
    public static TrainingMethod RlWithSftLoss { get; } = new("rl-sft", "RL with an SFT loss (LUFFY's multi-task baseline): GRPO on rollouts + λ·SFT on the traces", true, true,
        o => PolicyLossOptions.RlWithSftLoss(o.SftLossCoefficient, MainRun(o)),
        o => new OnPolicyGroupNormalizedAdvantage(normalizeByStd: o.StdNormalize)); // the reference's grpo_split: statistics of the rollouts only

    /// <summary>SFT for the first half of the steps, then GRPO for the second half (the usual two-stage recipe).</summary>
    public static TrainingMethod SftThenGrpo { get; } = new("sft-grpo", "SFT on the traces for the first half of the steps, then on-policy GRPO", true, true,
        o => Sft.LossOptions(o), _ => null, (step, steps) => step <= steps / 2 ? Sft : Grpo);

    /// <summary>
    /// ExGRPO: GRPO that replays the policy's own earlier correct rollouts (bucketed by how often the question was solved,
    /// the lowest-entropy trajectory) as one member of half of the groups once the batch solves more than 35%, trained
    /// with f(w) = w/(w + 0.1) of w = p/π_past; the on-policy ratio is clipped during the warm-up and unclipped after, the
    /// advantages are not divided by the group's std (the official run_exgrpo.sh). No external traces.
    /// </summary>
    public static TrainingMethod ExGrpo { get; } = new("exgrpo", "ExGRPO: GRPO + replay of the model's own earlier correct rollouts, f(p/p_past) on replayed tokens (no external traces)", true, false,
        o => WithTrainerSettings(PolicyLossOptions.ExGrpoWarmUp, o),
        _ => new GroupNormalizedAdvantage(normalizeByStd: false),
        replayLoss: o => WithTrainerSettings(PolicyLossOptions.ExGrpo, o));

    /// <summary>Every method, in the order of the comparison's table.</summary>
    public static IReadOnlyList<TrainingMethod> All { get; } = [Luffy, LuffyNoShaping, RlWithSftLoss, Grpo, ExGrpo, Sft, SftThenGrpo];

    /// <summary>The method named <paramref name="name"/>.</summary>
    /// <exception cref="OptionException"><paramref name="name"/> is not a method.</exception>
    public static TrainingMethod Parse(string name, string option = "mode") =>
        All.FirstOrDefault(m => m.Name == name)
        ?? throw new OptionException(option, name, string.Join(", ", All.Select(m => m.Name)), Suggestions.Nearest(name, [.. All.Select(m => m.Name)]));

    /// <summary>What the method does at step <paramref name="step"/> of <paramref name="steps"/> (two-stage methods switch halfway).</summary>
    public TrainingMethod At(int step, int steps) => phase?.Invoke(step, steps) ?? this;

    /// <summary>The loss of this method's phase; for ExGRPO, the warm-up's (clipped) or, once <paramref name="replayStarted"/>, the replay phase's (unclipped).</summary>
    public MixedPolicyLoss Loss(TrainerOptions o, bool replayStarted = false) => new(replayStarted && replayLoss is not null ? replayLoss(o) : LossOptions(o));

    /// <summary>The supervised loss of a method that imitates the traces (SFT), or <see langword="null"/> for the RL methods.</summary>
    public NegativeLogLikelihoodLoss? Supervised(TrainerOptions o) => supervised?.Invoke(o);

    /// <summary>SFT's loss: −log p summed over the trace tokens and divided by the maximum response length (Dr.GRPO's seq-mean-token-sum-norm, as the RL methods).</summary>
    private static NegativeLogLikelihoodLoss SupervisedLoss(TrainerOptions o) => new(LossAggregation.SequenceMeanTokenSumNorm, o.MaxResponseLength);

    /// <summary>The advantage estimator, or <see langword="null"/> for SFT (advantage 1 on every trace token).</summary>
    public IAdvantageEstimator? Estimator(TrainerOptions o) => Advantages(o);

    /// <summary>The group planner: G samples with k trace carriers, or one whole trace per prompt for SFT.</summary>
    public GroupPlanner Planner(TrainerOptions o) => new(new GroupPlanOptions
    {
        SamplesPerPrompt = Rollouts ? o.SamplesPerPrompt : 1,
        TraceCarriers = UsesExperience ? 1 : !CarriesTraces ? 0 : Rollouts ? o.TracesPerPrompt : 1, // ExGRPO: one replayed member in a replay group
        Strategy = !Rollouts || UsesExperience ? new FullTraceStrategy() : o.PrefixStrategy switch
        {
            "random" => new UniformPrefixStrategy(0, 1),
            "fixed" => new FixedPrefixStrategy(0, 1),
            "linear" => new LinearDecayPrefixStrategy(Math.Max(1, o.Steps), 0.8),
            _ => new FullTraceStrategy(),
        },
        Seed = o.Seed,
    });

    /// <summary>The group builder for a task.</summary>
    public static MixedBatchBuilder Builder(TrainerOptions o, ITrainingTask task) => new(new BatchBuilderOptions
    {
        MaxPromptLength = task.MaxPromptLength,
        MaxResponseLength = o.MaxResponseLength,
        PadTokenId = task.PadTokenId,
        EosTokenIds = task.EosTokenIds,
        VocabularySize = task.VocabularySize,
        AppendEosToTraces = true,
    });

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>LUFFY's main-run loss with the trainer's settings (clip, C = the maximum response length, entropy).</summary>
    private static PolicyLossOptions MainRun(TrainerOptions o) =>
        WithTrainerSettings(PolicyLossOptions.LuffyMainRun with { OnPolicy = o.ClipOnPolicy ? new ClippedSurrogate() : ClippedSurrogate.Unclipped }, o);

    /// <summary>A library preset with the settings every RL method of the trainer shares: C = the maximum response length, the entropy bonus, the KL penalty.</summary>
    private static PolicyLossOptions WithTrainerSettings(PolicyLossOptions preset, TrainerOptions o) => preset with
    {
        AggregationConstant = o.MaxResponseLength,
        EntropyCoefficient = o.Entropy,
        KlCoefficient = o.KlCoefficient,
    };

    private static IAdvantageEstimator GroupAdvantages(TrainerOptions o) => new GroupNormalizedAdvantage(normalizeByStd: o.StdNormalize);
}
