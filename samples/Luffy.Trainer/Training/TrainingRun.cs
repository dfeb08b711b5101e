using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Luffy.Objectives.Advantages;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Tokens;
using Luffy.Trainer.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Luffy.Trainer.Training;

/// <summary>
/// One training run of one mode and seed: rollouts (with KV cache), group building, old log-probs, advantages,
/// the mixed-policy loss over micro-batches with gradient accumulation, AdamW with gradient clipping and a
/// learning-rate schedule, evaluation, JSONL metrics and atomic checkpoints.
/// </summary>
public sealed class TrainingRun : IDisposable
{
    private const int SamplingPurpose = 2;
    private readonly TrainerOptions options;
    private readonly ITrainingTask task;
    private readonly Device device;
    private readonly AdamW optimizer;
    private readonly GroupPlanner planner;
    private readonly MixedBatchBuilder builder;
    private readonly MixedPolicyLoss loss;
    private readonly IAdvantageEstimator estimator;
    private readonly string fingerprint;

    /// <summary>A run that trains <paramref name="model"/> (owned and disposed by the run) on <paramref name="task"/>.</summary>
    public TrainingRun(TrainerOptions options, string mode, int seed, CausalLanguageModel model, ITrainingTask task, Device device)
    {
        if (mode is not ("luffy" or "grpo" or "sft"))
        {
            throw new OptionException("mode", mode, "luffy, grpo or sft for a single run");
        }
        this.options = options with { Seed = seed, Mode = mode };
        this.task = task;
        this.device = device;
        Mode = mode;
        Seed = seed;
        Directory = Path.Combine(options.Output, $"{mode}-seed{seed}");
        Model = model;
        Model.to(device);
        optimizer = optim.AdamW(Model.parameters(), options.LearningRate, beta1: 0.9, beta2: 0.999, weight_decay: options.WeightDecay);
        planner = ObjectiveFactory.Planner(this.options, mode);
        builder = ObjectiveFactory.Builder(options, task);
        loss = ObjectiveFactory.Loss(options, mode);
        estimator = ObjectiveFactory.Advantages(options);
        fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{task.Fingerprint}|{mode}|{seed}|{options.PromptsPerStep}|{options.SamplesPerPrompt}|{options.TracesPerPrompt}|{options.PrefixStrategy}")))[..16];
    }

    public string Mode { get; }

    public int Seed { get; }

    public string Directory { get; }

    public CausalLanguageModel Model { get; }

    /// <summary>Called after every checkpoint with the model and the run folder (the Hugging Face export).</summary>
    public Action<CausalLanguageModel, string>? Export { get; init; }

    /// <summary>Completed optimizer steps.</summary>
    public int Step { get; private set; }

    public List<EvalPoint> History { get; } = [];

    public List<StepRecord> Steps { get; } = [];

    private string CheckpointDirectory => Path.Combine(Directory, "checkpoint");

    private string MetricsPath => Path.Combine(Directory, "metrics.jsonl");

    /// <summary>Loads the run's last checkpoint (if any); returns whether one was loaded.</summary>
    public bool TryResume()
    {
        if (!Checkpoint.Exists(CheckpointDirectory))
        {
            return false;
        }
        CheckpointState state = Checkpoint.Load(CheckpointDirectory, Model, optimizer, fingerprint);
        Step = state.Step;
        History.Clear();
        History.AddRange(state.History);
        Steps.Clear();
        Steps.AddRange(state.Steps);
        // metrics.jsonl may hold steps after the checkpoint (written before an interruption): keep only those before it
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

    public void SaveCheckpoint()
    {
        Checkpoint.Save(CheckpointDirectory, Model, optimizer, new CheckpointState(Step, Mode, Seed, fingerprint, History, Steps));
        Export?.Invoke(Model, Directory);
    }

    public EvalPoint Evaluate()
    {
        (SplitAccuracy id, SplitAccuracy ood) = task.Evaluate(Model);
        var byLevel = id.ByLevel.Concat(ood.ByLevel).ToDictionary(p => p.Key, p => p.Value);
        var point = new EvalPoint(Step, id.Accuracy, ood.Accuracy, byLevel) { Examples = [.. id.Examples, .. ood.Examples] };
        History.RemoveAll(h => h.Step == Step);
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

    /// <summary>Runs the next optimizer step and appends its metrics to metrics.jsonl.</summary>
    public StepRecord RunStep()
    {
        int step = Step + 1;
        using var scope = NewDisposeScope();
        IReadOnlyList<TaskPrompt> problems = task.Prompts(Seed, step, options.PromptsPerStep);

        // Plan, then generate what the plan asks for (prompt + forced prefix, continued by the policy).
        var rollout = Stopwatch.StartNew();
        PromptPlan[] plans = problems.Select((p, i) => planner.Plan((long)step * 100_000 + i, Mode == "grpo" || p.Trace is null ? [] : [p.Trace], step)).ToArray();
        int[][] promptTokens = problems.Select(p => p.Tokens).ToArray();
        var contexts = new List<int[]>();
        for (int i = 0; i < plans.Length; i++)
        {
            foreach (SamplePlan sample in plans[i].Samples.Where(s => s.NeedsGeneration))
            {
                contexts.Add([.. promptTokens[i], .. sample.ForcedPrefix]);
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
        rollout.Stop();
        long rolloutTokens = generated?.Tokens.Sum(t => (long)t.Length) ?? 0;

        int next = 0;
        var prompts = new PromptInput[plans.Length];
        for (int i = 0; i < plans.Length; i++)
        {
            var samples = new List<SampleInput>();
            foreach (SamplePlan sample in plans[i].Samples)
            {
                if (sample.NeedsGeneration)
                {
                    samples.Add(SampleInput.FromPlan(sample, generated!.Tokens[next], generated.LogProbs[next], generated.Finish[next]));
                    next++;
                }
                else
                {
                    samples.Add(SampleInput.FromPlan(sample, []));
                }
            }
            prompts[i] = new PromptInput(plans[i].GroupId, promptTokens[i], samples);
        }
        var problemOf = plans.Select((p, i) => (p.GroupId, problems[i])).ToDictionary(x => x.GroupId, x => x.Item2);
        using TrainingBatch batch = builder.Build(prompts, (prompt, _, response) => task.Reward(problemOf[prompt.GroupId], response), device);

        // Old log-probs under the rollout policy (recomputed, detached), then advantages.
        var train = Stopwatch.StartNew();
        IReadOnlyList<MicroBatch> micro = MicroBatcher.ByCount(batch, options.MicroBatch);
        var old = new List<Tensor>();
        using (no_grad())
        {
            foreach (MicroBatch m in micro)
            {
                using TokenStatisticsResult s = PolicyForward.ResponseStatistics(Model, m.Batch);
                old.Add(s.LogProbs.detach().clone());
            }
        }
        Tensor tokenAdvantages;
        if (Mode == "sft")
        {
            tokenAdvantages = batch.ResponseMask.to_type(ScalarType.Float32); // SFT: advantage 1 on every trace token
        }
        else
        {
            using AdvantageResult advantages = estimator.Compute(batch.ToRewardBatch());
            tokenAdvantages = advantages.ToTokens(batch.ResponseMask);
        }

        optimizer.zero_grad();
        var microMetrics = new List<PolicyLossMetrics>(micro.Count);
        for (int k = 0; k < micro.Count; k++)
        {
            MicroBatch m = micro[k];
            using TokenStatisticsResult stats = PolicyForward.ResponseStatistics(Model, m.Batch);
            using PolicyLossResult result = loss.Compute(new PolicyLossInputs
            {
                LogProbs = stats.LogProbs,
                OldLogProbs = old[k],
                Advantages = m.Slice(tokenAdvantages),
                ResponseMask = m.Batch.ResponseMask,
                OffPolicyMask = m.Batch.OffPolicyMask,
                Entropy = stats.Entropy,
                Normalizers = m.Normalizers(loss.Options),
            });
            result.Loss.backward();
            microMetrics.Add(result.Metrics);
            m.Dispose();
        }
        PolicyLossMetrics metrics = PolicyLossMetrics.Combine(microMetrics);
        double totalLoss = metrics.Loss;

        double lr = LearningRate(step);
        foreach (var group in optimizer.ParamGroups)
        {
            group.LearningRate = lr;
        }
        double gradNorm = nn.utils.clip_grad_norm_(Model.parameters(), options.GradClip);
        bool skipped = !double.IsFinite(totalLoss) || !double.IsFinite(gradNorm);
        if (skipped)
        {
            optimizer.zero_grad(); // a NaN/Inf step never reaches the weights (nor, so, a checkpoint)
        }
        else
        {
            optimizer.step();
        }
        train.Stop();

        bool[] isOn = batch.SampleKinds.cpu().data<long>().ToArray().Select(k => k == (long)SampleKind.OnPolicy).ToArray();
        float[] rewards = batch.Rewards.cpu().data<float>().ToArray();
        long trainTokens = batch.ResponseLengths.sum().item<long>();
        Step = step;
        var record = new StepRecord
        {
            Step = step,
            Mode = Mode,
            Seed = Seed,
            Loss = totalLoss,
            Skipped = skipped,
            LearningRate = lr,
            GradNorm = gradNorm,
            OnPolicyReward = Mean(rewards.Where((_, i) => isOn[i])),
            TraceReward = Mean(rewards.Where((_, i) => !isOn[i])),
            OnPolicyLoss = metrics.OnPolicyLoss,
            OffPolicyLoss = metrics.OffPolicyLoss,
            OffPolicyProbability = metrics.OffPolicyProbability,
            OffRatioMean = metrics.OffPolicyRatioMean,
            Entropy = metrics.Entropy,
            SolveNone = batch.Statistics.SolveNone,
            SolveAll = batch.Statistics.SolveAll,
            MeanOnResponseLength = batch.Statistics.MeanOnResponseLength,
            TruncatedResponses = batch.Statistics.TruncatedResponses,
            RolloutTokens = rolloutTokens,
            TrainTokens = trainTokens,
            RolloutTokensPerSecond = rolloutTokens / Math.Max(rollout.Elapsed.TotalSeconds, 1e-9),
            TrainTokensPerSecond = trainTokens / Math.Max(train.Elapsed.TotalSeconds, 1e-9),
        };
        Steps.Add(record);
        System.IO.Directory.CreateDirectory(Directory);
        File.AppendAllText(MetricsPath, JsonSerializer.Serialize(record, TrainerOptions.JsonLineOptions) + "\n");
        return record;
    }

    /// <summary>Adds an evaluation to the last step's record (and to metrics.jsonl).</summary>
    public void AppendEvaluation(EvalPoint point)
    {
        System.IO.Directory.CreateDirectory(Directory);
        File.AppendAllText(MetricsPath, JsonSerializer.Serialize(new StepRecord { Step = point.Step, Mode = Mode, Seed = Seed, InDistributionAccuracy = point.InDistribution, OutOfDistributionAccuracy = point.OutOfDistribution }, TrainerOptions.JsonLineOptions) + "\n");
    }

    private static double Mean(IEnumerable<float> values)
    {
        float[] v = values.ToArray();
        return v.Length == 0 ? double.NaN : v.Average();
    }

    public void Dispose()
    {
        optimizer.Dispose();
        Model.Dispose();
    }
}
