using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Luffy.Objectives.Advantages;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Experience;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Tokens;
using Luffy.Trainer.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Luffy.Trainer.Training;

/// <summary>
/// One training run of one method and seed. A step is three phases: <see cref="Rollout"/> (plan each prompt's group and
/// generate what the plan asks for), <see cref="Build"/> (the padded batch, its rewards and advantages, the old log-probs),
/// and <see cref="Update"/> (the method's loss over micro-batches, one or more AdamW updates per rollout batch). Metrics
/// go to metrics.jsonl (one record per step, evaluations included) and TensorBoard; checkpoints commit atomically.
/// </summary>
public sealed partial class TrainingRun : IDisposable
{
    private const int SamplingPurpose = 2;
    private readonly TrainerOptions options;
    private readonly ITrainingTask task;
    private readonly Device device;
    private readonly AdamW optimizer;
    private readonly MixedBatchBuilder builder;
    private readonly string fingerprint;
    private readonly CausalLanguageModel? reference;
    private TorchSharp.Modules.SummaryWriter? tensorboard;

    /// <summary>A run that trains <paramref name="model"/> (owned and disposed by the run) on <paramref name="task"/>.</summary>
    /// <param name="options">The settings.</param>
    /// <param name="method">The method.</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="model">The model to train, owned and disposed by the run.</param>
    /// <param name="task">The task.</param>
    /// <param name="device">The device.</param>
    /// <param name="reference">
    /// The frozen base model: the reference policy of the KL penalty (required when <see cref="TrainerOptions.KlCoefficient"/>
    /// &gt; 0) and of the evaluation's KL-from-base measure; owned and disposed by the run, never trained.
    /// </param>
    public TrainingRun(TrainerOptions options, TrainingMethod method, int seed, CausalLanguageModel model, ITrainingTask task, Device device, CausalLanguageModel? reference = null)
    {
        if (options.KlCoefficient > 0 && reference is null)
        {
            throw new ArgumentException($"kl-coefficient = {options.KlCoefficient} needs the reference model (the base) to compute the KL penalty against.", nameof(reference));
        }
        this.reference = reference;
        if (reference is not null)
        {
            reference.to(device);
            reference.eval();
            foreach (var p in reference.parameters())
            {
                p.requires_grad = false;
            }
        }
        this.options = options with { Seed = seed, Mode = method.Name };
        this.task = task;
        this.device = device;
        Method = method;
        Seed = seed;
        Directory = Path.Combine(options.Output, $"{method.Name}-seed{seed}");
        Model = model;
        Model.to(device);
        optimizer = optim.AdamW(Model.parameters(), options.LearningRate, beta1: 0.9, beta2: 0.999, weight_decay: options.WeightDecay);
        builder = TrainingMethod.Builder(options, task);
        if (method.UsesExperience && options.DynamicSampling)
        {
            throw new ArgumentException($"{method.Name} records whole groups in its experience buffer; dynamic sampling would drop them.", nameof(options));
        }
        experience = method.UsesExperience ? new ExperienceBuffer(ExperienceOptionsFor(options, seed)) : null;
        fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{task.Fingerprint}|{method.Name}|{seed}|{options.PromptsPerStep}|{options.SamplesPerPrompt}|{options.TracesPerPrompt}|{options.PrefixStrategy}|{options.MiniBatches}|{options.PpoEpochs}|{options.KlCoefficient}|{options.DynamicSampling}|{options.ClipOnPolicy}|{options.StdNormalize}|{options.Entropy:R}|{options.SftLossCoefficient:R}|{options.LrSchedule}|{options.WarmupSteps}|{options.WeightDecay:R}|{options.GradClip:R}|{options.Temperature:R}|{options.TopP:R}|{options.MaxResponseLength}|{options.LearningRate:R}|{options.Gamma:R}{(method.UsesExperience ? $"|{options.ReplayShare:R}|{options.ReplayStart:R}" : "")}"))))[..16];
    }

    public TrainingMethod Method { get; }

    public int Seed { get; }

    public string Directory { get; }

    public CausalLanguageModel Model { get; }

    /// <summary>Called after every checkpoint with the model and the run folder (the Hugging Face export).</summary>
    public Action<CausalLanguageModel, string>? Export { get; init; }

    /// <summary>Completed rollout steps.</summary>
    public int Step { get; private set; }

    public List<EvalPoint> History { get; } = [];

    public List<StepRecord> Steps { get; } = [];

    private string MetricsPath => Path.Combine(Directory, "metrics.jsonl");

    /// <summary>
    /// Loads the run's committed checkpoint; returns false when the folder holds none. A folder with checkpoint data
    /// that was never committed, or a checkpoint that fails verification, throws a <see cref="CheckpointException"/> naming the file.
    /// </summary>
    public bool TryResume()
    {
        if (Checkpoint.Committed(Directory) is null)
        {
            if (Checkpoint.HasUncommittedData(Directory))
            {
                throw new CheckpointException(Path.Combine(Directory, Checkpoint.Folders),
                    "holds a checkpoint whose write was interrupted before it was committed, and no complete one; there is nothing to resume: start again without --resume (the interrupted data is replaced)");
            }
            return false;
        }
        CheckpointState state = Checkpoint.Load(Directory, Model, optimizer, fingerprint, Method.Name, Seed);
        if (experience is not null)
        {
            LoadExperience();
        }
        Step = state.Step;
        History.Clear();
        History.AddRange(state.History);
        Steps.Clear();
        Steps.AddRange(state.Steps);
        // metrics.jsonl may hold steps after the checkpoint (written before an interruption): keep only those up to it
        if (File.Exists(MetricsPath))
        {
            string[] kept = File.ReadAllLines(MetricsPath).Where(line =>
            {
                try
                {
                    return JsonSerializer.Deserialize<StepRecord>(line, TrainerOptions.JsonOptions)?.Step <= Step;
                }
                catch (JsonException)
                {
                    return false;
                }
            }).ToArray();
            File.WriteAllLines(MetricsPath, kept);
        }
        return true;
    }

    /// <summary>Starts the run from scratch in its folder: the metrics and checkpoint data of an earlier, never-checkpointed attempt are removed.</summary>
    public void StartFresh()
    {
        System.IO.Directory.CreateDirectory(Directory);
        File.Delete(MetricsPath);
        string uncommitted = Path.Combine(Directory, Checkpoint.Folders);
        if (System.IO.Directory.Exists(uncommitted))
        {
            System.IO.Directory.Delete(uncommitted, recursive: true);
        }
    }

    public void SaveCheckpoint()
    {
        Checkpoint.Save(Directory, Model, optimizer, new CheckpointState(Step, Method.Name, Seed, fingerprint, History, Steps), experience is null ? null : experience.Save);
        Export?.Invoke(Model, Directory);
    }

    public EvalPoint Evaluate(CancellationToken cancel = default)
    {
        Evaluation evaluation = task.Evaluate(Model, reference, cancel);
        var accuracy = evaluation.Splits.ToDictionary(s => s.Split, s => s.Accuracy);
        var byLevel = evaluation.Splits.SelectMany(s => s.ByLevel).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.First().Value);
        var point = new EvalPoint(Step, accuracy, byLevel, evaluation.Measures.ToDictionary(p => p.Key, p => p.Value))
        {
            Examples = [.. evaluation.Splits.Where(s => s.Split != Evaluator.Validation).SelectMany(s => s.Examples)],
            SplitLevels = evaluation.Splits.ToDictionary(s => s.Split, s => s.ByLevel.ToDictionary()),
        };
        History.RemoveAll(h => h.Step == Step);
        History.Add(point);
        return point;
    }

    /// <summary>Records <paramref name="point"/> (an evaluation of step 0 made by another run of the same base and task) as this run's own; returns it, or null when there is none.</summary>
    public EvalPoint? AddEvaluation(EvalPoint? point)
    {
        if (point is null || Step != 0 || point.Step != 0)
        {
            return null;
        }
        History.RemoveAll(h => h.Step == 0);
        History.Add(point);
        return point;
    }

    private double LearningRate(int step)
    {
        double warm = options.WarmupSteps == 0 ? 1 : Math.Min(1.0, (double)step / options.WarmupSteps);
        double decay = options.LrSchedule == "cosine"
            ? 0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, (double)step / options.Steps)))
            : 1.0;
        return options.LearningRate * warm * decay;
    }

    /// <summary>Runs the next rollout step (not yet recorded: see <see cref="Record"/>).</summary>
    public StepRecord RunStep()
    {
        int step = Step + 1;
        TrainingMethod phase = Method.At(step, options.Steps);
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        (PromptInput[] prompts, Dictionary<long, TaskPrompt> problems, Dictionary<long, long> questions, long rolloutTokens) = Rollout(step, phase);
        double rolloutSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        using TrainingBatch full = builder.Build(prompts, (prompt, _, response) => task.Reward(problems[prompt.GroupId], response), device);
        (bool[] isOn, float[] rewards, long[] groupIds, long[] responseLengths) = RowFacts(full);
        long[] informative = InformativeRows(groupIds, rewards);
        int informativeGroups = informative.Select(i => groupIds[i]).Distinct().Count();
        bool supervised = phase.Supervised(options) is not null;
        double loss = double.NaN, gradNorm = double.NaN, lr = LearningRate(step);
        bool skipped = false;
        int updates = 0;
        PolicyLossMetrics? metrics = null;
        long trainTokens = 0;
        // dynamic sampling: only the groups whose rewards differ are trained on; a step without one makes no update
        bool train = !options.DynamicSampling || supervised || informative.Length > 0;
        if (train)
        {
            using TrainingBatch? selected = options.DynamicSampling && !supervised && informative.Length < groupIds.Length
                ? full.Select(tensor(informative, dtype: ScalarType.Int64, device: full.GroupIds.device)) : null;
            TrainingBatch batch = selected ?? full;
            long[] rows = selected is null ? [.. Enumerable.Range(0, groupIds.Length).Select(i => (long)i)] : informative;
            (Tensor? old, Tensor? advantages, Tensor? referenceLogProbs) = Build(batch, phase);
            bool replaying = experience?.ReplayStarted ?? false; // the loss of the phase the step began in
            long[] batchGroups = [.. rows.Select(i => groupIds[i])];
            (loss, gradNorm, skipped, lr, metrics, updates) = Update(batch, batchGroups, phase, old, advantages, referenceLogProbs, step, replaying);
            trainTokens = rows.Sum(i => responseLengths[i]);
            if (experience is not null)
            {
                RecordExperience(batch, old!, questions, batchGroups, [.. rows.Select(i => rewards[i])], [.. rows.Select(i => responseLengths[i])]);
            }
        }
        double trainSeconds = clock.Elapsed.TotalSeconds;
        Step = step;
        ExperienceStatistics? buffer = experience?.Statistics; // one pass over the buffer for the step's record
        return new StepRecord
        {
            Step = step,
            Mode = Method.Name,
            Phase = phase.Name,
            Seed = Seed,
            Loss = loss,
            Skipped = skipped,
            LearningRate = lr,
            GradNorm = gradNorm,
            Updates = updates,
            OnPolicyReward = Mean(rewards.Where((_, i) => isOn[i])),
            TraceReward = Mean(rewards.Where((_, i) => !isOn[i])),
            OnPolicyLoss = metrics?.OnPolicyLoss ?? double.NaN,
            OffPolicyLoss = metrics?.OffPolicyLoss ?? double.NaN,
            OffPolicyProbability = metrics?.OffPolicyProbability ?? double.NaN,
            OffRatioMean = metrics?.OffPolicyRatioMean ?? double.NaN,
            ClipFraction = metrics?.ClipFraction ?? double.NaN,
            PpoKl = metrics?.PpoKl ?? double.NaN,
            SftLoss = metrics?.SftLoss ?? double.NaN,
            Entropy = metrics?.Entropy ?? double.NaN,
            KlFromReference = options.KlCoefficient > 0 ? metrics?.Kl ?? double.NaN : double.NaN,
            InformativeGroups = informativeGroups,
            ReplayedSamples = full.Statistics.ReplayedSamples,
            ReplayShare = experience is null ? 0 : (double)full.Statistics.ReplayedSamples / full.Statistics.Groups,
            ExperienceQuestions = buffer?.Questions ?? 0,
            ExperienceTrajectories = buffer?.Trajectories ?? 0,
            RetiredQuestions = buffer?.Retired ?? 0,
            ReplayStarted = experience?.ReplayStarted ?? false,
            ExperienceBuckets = buffer is null ? null : [.. buffer.BucketSizes],
            SolveNone = full.Statistics.SolveNone,
            SolveAll = full.Statistics.SolveAll,
            MeanOnResponseLength = full.Statistics.MeanOnResponseLength,
            TruncatedResponses = full.Statistics.TruncatedResponses,
            RolloutTokens = rolloutTokens,
            TrainTokens = trainTokens,
            RolloutTokensPerSecond = rolloutTokens / Math.Max(rolloutSeconds, 1e-9),
            TrainTokensPerSecond = trainTokens / Math.Max(trainSeconds, 1e-9),
        };
    }

    /// <summary>Plans each prompt's group (rollouts and trace carriers) and generates what the plans ask for: prompt + forced prefix, continued by the policy.</summary>
    private (PromptInput[] Prompts, Dictionary<long, TaskPrompt> Problems, Dictionary<long, long> Questions, long RolloutTokens) Rollout(int step, TrainingMethod phase)
    {
        IReadOnlyList<TaskPrompt> loader = task.Prompts(Seed, step, options.PromptsPerStep);
        // ExGRPO: replayed questions carry a stored trajectory of their own; the other methods carry the prompt's trace
        (TaskPrompt Prompt, long Question, OffPolicyTrace? Trace)[] rows = experience is not null
            ? ExperiencePrompts(step, loader)
            : [.. loader.Select(p => (p, 0L, phase.CarriesTraces ? p.Trace : null))];
        TaskPrompt[] problems = [.. rows.Select(r => r.Prompt)];
        GroupPlanner planner = phase.Planner(options);
        PromptPlan[] plans = rows.Select((r, i) => planner.Plan((long)step * 100_000 + i, r.Trace is null ? [] : [r.Trace], step)).ToArray();
        var contexts = new List<int[]>();
        for (int i = 0; i < plans.Length; i++)
        {
            foreach (SamplePlan sample in plans[i].Samples.Where(s => s.NeedsGeneration))
            {
                contexts.Add([.. problems[i].Tokens, .. sample.ForcedPrefix]);
            }
        }
        GenerationResult? generated = null;
        if (contexts.Count > 0)
        {
            using var generator = new Generator((ulong)Seeds.Derive(Seed, step, SamplingPurpose), device);
            Model.eval();
            var parts = new List<GenerationResult>();
            foreach (int[][] chunk in contexts.Chunk(options.RolloutBatch))
            {
                parts.Add(Generation.Generate(Model, chunk, options.MaxResponseLength, options.Temperature, options.TopP, generator, eosTokenIds: task.EosTokenIds, padTokenId: task.PadTokenId));
            }
            generated = parts.Count == 1 ? parts[0] : new GenerationResult([.. parts.SelectMany(p => p.Tokens)], [.. parts.SelectMany(p => p.LogProbs)], [.. parts.SelectMany(p => p.Finish)]);
            Model.train();
        }

        int next = 0;
        var prompts = new PromptInput[plans.Length];
        for (int i = 0; i < plans.Length; i++)
        {
            var samples = new List<SampleInput>();
            foreach (SamplePlan sample in plans[i].Samples)
            {
                samples.Add(sample.NeedsGeneration
                    ? SampleInput.FromPlan(sample, generated!.Tokens[next], generated.LogProbs[next], generated.Finish[next++])
                    : SampleInput.FromPlan(sample, []));
            }
            prompts[i] = new PromptInput(plans[i].GroupId, problems[i].Tokens, samples);
        }
        var byGroup = plans.Select((p, i) => (p.GroupId, problems[i])).ToDictionary(x => x.GroupId, x => x.Item2);
        var questionOf = plans.Select((p, i) => (p.GroupId, rows[i].Question)).ToDictionary(x => x.GroupId, x => x.Question);
        return (prompts, byGroup, questionOf, generated?.Tokens.Sum(t => (long)t.Length) ?? 0);
    }

    /// <summary>
    /// Whether the old log-probs come from the first update's own forward pass: with one mini-batch the first update
    /// (the first PPO epoch's) covers every row of the batch with the policy that rolled out, so its log-probs,
    /// detached, are the old ones — the same micro-batches, so bit for bit what a separate pass would give (verl does
    /// the same with one update per rollout batch) — and later epochs read them back; the separate forward pass over
    /// the batch is saved. With several mini-batches the second one is computed after an update, so it needs the pass.
    /// </summary>
    private bool OldFromUpdate => !SeparateOldLogProbPass && options.MiniBatches == 1;

    /// <summary>Forces the separate old-log-prob pass even with one update per rollout batch (tests compare the two).</summary>
    internal bool SeparateOldLogProbPass { get; init; }

    /// <summary>
    /// The batch's old log-probs under the rollout policy (recomputed, detached, fixed for every update of this step) and
    /// its token advantages; neither for a supervised phase (SFT), whose loss reads only the current log-probs. With
    /// <see cref="OldFromUpdate"/> the old log-probs are a (B, T) tensor of zeros that <see cref="Update"/> fills.
    /// </summary>
    private (Tensor? Old, Tensor? Advantages, Tensor? Reference) Build(TrainingBatch batch, TrainingMethod phase)
    {
        if (phase.Supervised(options) is not null)
        {
            return (null, null, null);
        }
        Tensor oldLogProbs = OldFromUpdate ? zeros(batch.Count, batch.ResponseLength, device: batch.ResponseMask.device) : LogProbs(Model, batch);
        Tensor? referenceLogProbs = options.KlCoefficient > 0 ? LogProbs(reference!, batch) : null;
        IAdvantageEstimator estimator = phase.Estimator(options) ?? throw new InvalidOperationException($"{phase.Name} has neither an advantage estimator nor a supervised loss.");
        using AdvantageResult advantages = estimator.Compute(batch.ToRewardBatch());
        return (oldLogProbs, advantages.ToTokens(batch.ResponseMask), referenceLogProbs);
    }

    /// <summary>
    /// The batch's response log-probs under <paramref name="model"/>, (B, T), detached, by micro-batches of the run's layout
    /// (the same micro-batches as the update's, so the numbers equal those of the update's forward pass); 0 past each
    /// micro-batch's longest response.
    /// </summary>
    private Tensor LogProbs(CausalLanguageModel model, TrainingBatch batch)
    {
        Tensor result = zeros(batch.Count, batch.ResponseLength, device: batch.ResponseMask.device);
        using (no_grad())
        {
            using MicroBatches microBatches = MicroBatchesOf(batch);
            foreach (MicroBatch m in microBatches)
            {
                using TokenStatisticsResult s = PolicyForward.ResponseStatistics(model, m.Batch);
                m.Scatter(s.LogProbs.detach(), result);
                m.Dispose();
            }
        }
        return result;
    }

    /// <summary>
    /// The run's micro-batches of <paramref name="batch"/> (<see cref="TrainerOptions.MicroBatch"/> rows,
    /// <see cref="TrainerOptions.Layout"/>): one split for every pass over a batch, so that the old-log-prob pass and the
    /// update see the same shapes and so the same numbers.
    /// </summary>
    private MicroBatches MicroBatchesOf(TrainingBatch batch) => MicroBatcher.ByCount(batch, options.MicroBatch, options.Layout);

    /// <summary>The rows of the groups whose rewards are not all equal (the groups that carry a learning signal), in order.</summary>
    internal static long[] InformativeRows(long[] groupIds, float[] rewards)
    {
        var uniform = groupIds.Select((g, i) => (g, r: rewards[i])).GroupBy(x => x.g).Where(g => g.All(x => x.r == g.First().r)).Select(g => g.Key).ToHashSet();
        return [.. Enumerable.Range(0, groupIds.Length).Where(i => !uniform.Contains(groupIds[i])).Select(i => (long)i)];
    }

    /// <summary>
    /// The method's loss and AdamW: <see cref="TrainerOptions.PpoEpochs"/> passes, each split into
    /// <see cref="TrainerOptions.MiniBatches"/> mini-batches of whole prompt groups, one optimizer update each (gradients
    /// accumulated over micro-batches with the mini-batch's normalizers). The old log-probs stay those of the rollout, so
    /// from the second update on the importance ratio differs from 1 and the clip can act.
    /// </summary>
    private (double Loss, double GradNorm, bool Skipped, double LearningRate, PolicyLossMetrics Metrics, int Updates) Update(TrainingBatch batch, long[] groups, TrainingMethod phase, Tensor? old, Tensor? advantages, Tensor? referenceLogProbs, int step, bool replaying)
    {
        NegativeLogLikelihoodLoss? supervised = phase.Supervised(options);
        MixedPolicyLoss loss = phase.Loss(options, replaying);
        using Tensor? stored = experience is null ? null : batch.TraceLogProbs(); // replayed tokens: f(p/π_past) against their stored log-probs
        double lr = LearningRate(step);
        foreach (var group in optimizer.ParamGroups)
        {
            group.LearningRate = lr;
        }
        List<long[]> miniBatches = MiniBatchRows(groups, options.MiniBatches);
        var parts = new List<PolicyLossMetrics>();
        double totalLoss = 0, gradNorm = 0;
        bool skipped = false;
        int updates = 0;
        for (int epoch = 0; epoch < options.PpoEpochs; epoch++)
        {
            foreach (long[] rows in miniBatches)
            {
                using var scope = NewDisposeScope();
                Tensor indices = tensor(rows, dtype: ScalarType.Int64, device: batch.GroupIds.device);
                using TrainingBatch mini = batch.Select(indices);
                // with OldFromUpdate the one mini-batch is every row in order: the first epoch writes the old log-probs into the
                // batch's own tensor (each micro-batch's before its loss reads them) and later epochs read them
                Tensor? miniOld = OldFromUpdate ? old : old?.index_select(0, indices), miniAdvantages = advantages?.index_select(0, indices), miniReference = referenceLogProbs?.index_select(0, indices);
                Tensor? miniStored = stored?.index_select(0, indices);
                optimizer.zero_grad();
                var updateParts = new List<PolicyLossMetrics>();
                using (MicroBatches microBatches = MicroBatchesOf(mini))
                {
                    foreach (MicroBatch m in microBatches)
                    {
                        using TokenStatisticsResult stats = PolicyForward.ResponseStatistics(Model, m.Batch);
                        if (OldFromUpdate && epoch == 0 && miniOld is not null)
                        {
                            m.Scatter(stats.LogProbs.detach(), miniOld);
                        }
                        using PolicyLossResult result = supervised?.Compute(m, stats) ?? loss.Compute(m, stats, miniOld!, miniAdvantages!, miniReference, traceLogProbs: miniStored);
                        result.Loss.backward();
                        updateParts.Add(result.Metrics);
                        m.Dispose(); // free the micro-batch's tensors before the next forward
                    }
                }
                PolicyLossMetrics update = PolicyLossMetrics.Combine(updateParts);
                double norm = nn.utils.clip_grad_norm_(Model.parameters(), options.GradClip);
                if (!double.IsFinite(update.Loss) || !double.IsFinite(norm))
                {
                    optimizer.zero_grad(); // a NaN/Inf update never reaches the weights (nor, so, a checkpoint)
                    skipped = true;
                }
                else
                {
                    optimizer.step();
                }
                parts.AddRange(updateParts);
                totalLoss += update.Loss;
                gradNorm += norm;
                updates++;
            }
        }
        return (totalLoss / updates, gradNorm / updates, skipped, lr, PolicyLossMetrics.Combine(parts), updates);
    }

    /// <summary>The rows of each mini-batch: whole prompt groups, in order, split into <paramref name="count"/> nearly equal parts.</summary>
    internal static List<long[]> MiniBatchRows(long[] groupIds, int count)
    {
        long[] distinct = groupIds.Distinct().ToArray();
        int parts = Math.Min(count, distinct.Length);
        var result = new List<long[]>(parts);
        for (int k = 0; k < parts; k++)
        {
            var members = distinct.Skip(k * distinct.Length / parts).Take((k + 1) * distinct.Length / parts - k * distinct.Length / parts).ToHashSet();
            result.Add(Enumerable.Range(0, groupIds.Length).Where(i => members.Contains(groupIds[i])).Select(i => (long)i).ToArray());
        }
        return result;
    }

    /// <summary>Appends a step's record to metrics.jsonl and TensorBoard (an evaluation of that step included).</summary>
    public void Record(StepRecord record)
    {
        Steps.RemoveAll(s => s.Step == record.Step);
        Steps.Add(record);
        System.IO.Directory.CreateDirectory(Directory);
        File.AppendAllText(MetricsPath, JsonSerializer.Serialize(record, TrainerOptions.JsonLineOptions) + "\n");
        if (!options.Tensorboard)
        {
            return;
        }
        tensorboard ??= torch.utils.tensorboard.SummaryWriter(Path.Combine(Directory, "tensorboard"));
        if (record.Step > 0)
        {
            foreach ((string tag, double value) in new (string, double)[]
            {
                ("train/loss", record.Loss), ("train/reward", record.OnPolicyReward), ("train/trace_reward", record.TraceReward),
                ("train/entropy", record.Entropy), ("train/pg_clipfrac", record.ClipFraction), ("train/ppo_kl", record.PpoKl),
                ("train/on_pg_loss", record.OnPolicyLoss), ("train/off_pg_loss", record.OffPolicyLoss), ("train/off_ratio_mean", record.OffRatioMean),
                ("train/off_policy_prob", record.OffPolicyProbability), ("train/sft_loss", record.SftLoss), ("train/grad_norm", record.GradNorm),
                ("train/learning_rate", record.LearningRate), ("train/solve_none", record.SolveNone), ("train/solve_all", record.SolveAll),
                ("train/kl", record.KlFromReference), ("train/informative_groups", record.InformativeGroups),
                ("experience/replayed", experience is null ? double.NaN : record.ReplayedSamples), ("experience/replay_share", experience is null ? double.NaN : record.ReplayShare), ("experience/questions", experience is null ? double.NaN : record.ExperienceQuestions),
                ("experience/trajectories", experience is null ? double.NaN : record.ExperienceTrajectories), ("experience/retired", experience is null ? double.NaN : record.RetiredQuestions),
            })
            {
                if (double.IsFinite(value))
                {
                    tensorboard.add_scalar(tag, (float)value, record.Step);
                }
            }
        }
        for (int k = 0; k < (record.ExperienceBuckets?.Length ?? 0); k++)
        {
            tensorboard.add_scalar($"experience/bucket_{k + 1}", record.ExperienceBuckets![k], record.Step);
        }
        foreach ((string name, double value) in record.Evaluation ?? [])
        {
            if (double.IsFinite(value))
            {
                tensorboard.add_scalar("eval/" + name, (float)value, record.Step);
            }
        }
    }

    /// <summary>
    /// Per row of a built batch, in one device read: whether it is an on-policy sample, its reward, its group id and its
    /// response length (the values travel as float64, exact for these integers and for float32 rewards).
    /// </summary>
    private static (bool[] IsOn, float[] Rewards, long[] GroupIds, long[] ResponseLengths) RowFacts(TrainingBatch batch)
    {
        int b = batch.Count;
        double[] v;
        using (NewDisposeScope())
        {
            v = HostRead<double>(cat(new[] { batch.SampleKinds, batch.Rewards, batch.GroupIds, batch.ResponseLengths }.Select(t => t.to_type(ScalarType.Float64)).ToArray()));
        }
        return ([.. v[..b].Select(k => (long)k == (long)SampleKind.OnPolicy)], [.. v[b..(2 * b)].Select(r => (float)r)],
            [.. v[(2 * b)..(3 * b)].Select(g => (long)g)], [.. v[(3 * b)..].Select(n => (long)n)]);
    }

    private static T[] HostRead<T>(Tensor t)
        where T : unmanaged
    {
        using var scope = NewDisposeScope();
        return t.cpu().data<T>().ToArray();
    }

    private static double Mean(IEnumerable<float> values)
    {
        float[] v = values.ToArray();
        return v.Length == 0 ? double.NaN : v.Average();
    }

    public void Dispose()
    {
        reference?.Dispose();
        optimizer.Dispose();
        Model.Dispose();
    }
}
