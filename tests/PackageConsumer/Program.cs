using Luffy.Objectives.Advantages;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Experience;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Shaping;
using Luffy.Objectives.Tokens;
using TorchSharp;
using static TorchSharp.torch;

// One LUFFY training step of a tiny model, written against the packed package only, as another trainer would write it:
// plan -> (generate) -> build -> advantages -> token statistics -> loss over micro-batches -> AdamW. A shaping function
// and an advantage estimator of its own take part.
manual_seed(0);
const int Vocabulary = 32, Eos = 2, Hidden = 16;
var embedding = nn.Embedding(Vocabulary, Hidden);
var head = nn.Linear(Hidden, Vocabulary);
var model = nn.Sequential(("embedding", embedding), ("head", head));
var optimizer = optim.AdamW(model.parameters(), lr: 1e-2);
Tensor before = head.weight!.detach().clone();

// Plan: each prompt gets 3 on-policy samples and 1 trace carrier (LUFFY's split at a small G).
var planner = new GroupPlanner(new GroupPlanOptions { SamplesPerPrompt = 4, TraceCarriers = 1 });
var prompts = new List<PromptInput>();
var rng = new Random(1);
for (int prompt = 0; prompt < 3; prompt++)
{
    int[] promptTokens = [5 + prompt, 6, 7];
    var trace = new OffPolicyTrace([10, 11, 12 + prompt]);
    PromptPlan plan = planner.Plan(prompt, [trace], step: 1);
    var samples = new List<SampleInput>();
    foreach (SamplePlan sample in plan.Samples)
    {
        // "generation": a few random tokens and EOS, with the sampler's log-probs; the trace carrier needs none
        int[] generated = sample.NeedsGeneration ? [.. Enumerable.Range(0, rng.Next(1, 4)).Select(_ => rng.Next(3, Vocabulary)), Eos] : [];
        samples.Add(SampleInput.FromPlan(sample, generated, [.. generated.Select(_ => -2.5f)]));
    }
    prompts.Add(new PromptInput(prompt, promptTokens, samples));
}
using TrainingBatch batch = new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [Eos], MaxResponseLength = 8, VocabularySize = Vocabulary })
    .Build(prompts, (prompt, sample, response) => response.Contains(12) || response.Count % 2 == 0 ? 1.0 : 0.0);

// Advantages from an estimator of our own, old log-probs under the current model, then the loss over micro-batches.
using AdvantageResult advantages = new MedianBaselineAdvantage().Compute(batch.ToRewardBatch());
using Tensor tokenAdvantages = advantages.ToTokens(batch.ResponseMask);
var loss = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun with { Shaping = new CappedShaping(0.05) });
using MicroBatches microBatches = MicroBatcher.ByCount(batch, 5, MicroBatchLayout.SortedByLength); // rows grouped by length, each micro-batch cut to its longest row
Tensor old;
using (no_grad())
{
    using TokenStatisticsResult s = TokenStatistics.ForResponses(model.forward(batch.InputIds), batch);
    old = s.LogProbs.clone();
}
optimizer.zero_grad();
var metrics = new List<PolicyLossMetrics>();
LossKernel kernel = LossKernel.Auto;
string reason = "";
foreach (MicroBatch micro in microBatches)
{
    using var scope = NewDisposeScope();
    using TokenStatisticsResult stats = TokenStatistics.ForResponses(model.forward(micro.Batch.InputIds), micro.Batch);
    using PolicyLossResult result = loss.Compute(micro, stats, old, tokenAdvantages);
    result.Loss.backward();
    metrics.Add(result.Metrics);
    (kernel, reason) = (result.Kernel, result.KernelReason);
}
optimizer.step();

PolicyLossMetrics step = PolicyLossMetrics.Combine(metrics);
double change = (head.weight!.detach() - before).abs().max().item<float>();
Console.WriteLine($"sequences {batch.Count}, micro-batches {microBatches.Count}, groups {advantages.Statistics.GroupCount}, off-policy tokens {step.OffPolicyTokens}");
Console.WriteLine($"loss {step.Loss:F6}, entropy {step.Entropy:F4}, off_ratio_mean {step.OffPolicyRatioMean:F4}, kernel {kernel} ({reason})");
Console.WriteLine($"largest weight change {change:E2}");
if (!double.IsFinite(step.Loss) || change == 0 || step.OffPolicyTokens == 0)
{
    Console.WriteLine("FAILED: the step did not train");
    return 1;
}
Console.WriteLine("consumer step: ok");

// An ExGRPO step from the package alone: the groups just trained on go into an experience buffer (their correct members,
// with their old log-probs), and the next step replays the lowest-entropy stored trajectory of a drawn question as a
// member of a fresh group of that question, trained with f(p/π_past) against its stored log-probs.
var experience = new ExperienceBuffer(new ExperienceOptions { SamplesPerPrompt = 4 });
experience.EndStep(0.5); // the warm-up ends (solved share above 0.35)
long[] groupIds = batch.GroupIds.data<long>().ToArray();
float[] rowRewards = batch.Rewards.data<float>().ToArray();
foreach (IGrouping<long, int> group in Enumerable.Range(0, batch.Count).GroupBy(i => groupIds[i]))
{
    var members = group.Select(i =>
    {
        bool[] inResponse = batch.ResponseMask[i].data<bool>().ToArray();
        int length = inResponse.Count(m => m);
        int[] tokens = [.. batch.ResponseIds()[i].data<long>().ToArray().Take(length).Select(t => (int)t)];
        float[] logProbs = [.. old[i].data<float>().ToArray().Take(length)];
        return new ExperienceCandidate(tokens, logProbs, rowRewards[i]);
    }).ToList();
    experience.RecordGroup(group.Key, members);
}
ReplayPlan replay = experience.PlanBatch([10, 11, 12], step: 2);
if (replay.Replay.Count == 0)
{
    Console.WriteLine($"FAILED: nothing to replay (buffer: {experience.Statistics})");
    return 1;
}
var builder = new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [Eos], MaxResponseLength = 8, VocabularySize = Vocabulary });
var exgrpoPrompts = new List<PromptInput>();
foreach ((long question, bool replayed) in replay.Replay.Select(q => (q, true)).Concat(replay.Fresh.Select(q => (q, false))))
{
    int[] promptTokens = [5 + (int)(question % 3), 6, 7];
    OffPolicyTrace[] traces = [];
    if (replayed)
    {
        // the lowest mean entropy under the current policy among the question's stored trajectories
        IReadOnlyList<ExperienceTrajectory> stored = experience.Trajectories(question);
        using TrainingBatch candidates = builder.Build([.. stored.Select((t, i) => new PromptInput(i, promptTokens, [SampleInput.FullTrace(t.ToTrace(), reward: 1)]))]);
        double[] entropies;
        using (no_grad())
        {
            using TokenStatisticsResult s = TokenStatistics.ForResponses(model.forward(candidates.InputIds), candidates);
            entropies = ExperienceBuffer.MeanEntropies(s.Entropy, candidates.ResponseMask);
        }
        traces = [stored[experience.ChooseTrajectory(question, entropies, step: 2)].ToTrace()];
    }
    PromptPlan plan = planner.Plan(100 + question, traces, step: 2);
    var samples = new List<SampleInput>();
    foreach (SamplePlan sample in plan.Samples)
    {
        int[] generated = sample.NeedsGeneration ? [.. Enumerable.Range(0, rng.Next(1, 4)).Select(_ => rng.Next(3, Vocabulary)), Eos] : [];
        samples.Add(SampleInput.FromPlan(sample, generated, [.. generated.Select(_ => -2.5f)]));
    }
    exgrpoPrompts.Add(new PromptInput(plan.GroupId, promptTokens, samples));
}
using TrainingBatch exgrpoBatch = builder.Build(exgrpoPrompts, (prompt, sample, response) => sample.Trace is not null || response.Count % 2 == 0 ? 1.0 : 0.0);
using AdvantageResult exgrpoAdvantages = new GroupNormalizedAdvantage(normalizeByStd: false).Compute(exgrpoBatch.ToRewardBatch());
using Tensor exgrpoTokenAdvantages = exgrpoAdvantages.ToTokens(exgrpoBatch.ResponseMask);
using Tensor storedLogProbs = exgrpoBatch.TraceLogProbs();
Tensor exgrpoOld;
using (no_grad())
{
    using TokenStatisticsResult s = TokenStatistics.ForResponses(model.forward(exgrpoBatch.InputIds), exgrpoBatch);
    exgrpoOld = s.LogProbs.clone();
}
optimizer.zero_grad();
using (var scope = NewDisposeScope())
{
    using TokenStatisticsResult stats = TokenStatistics.ForResponses(model.forward(exgrpoBatch.InputIds), exgrpoBatch);
    using PolicyLossResult result = new MixedPolicyLoss(PolicyLossOptions.ExGrpo).Compute(new PolicyLossInputs
    {
        LogProbs = stats.LogProbs, OldLogProbs = exgrpoOld, Advantages = exgrpoTokenAdvantages, ResponseMask = exgrpoBatch.ResponseMask,
        OffPolicyMask = exgrpoBatch.OffPolicyMask, Entropy = stats.Entropy, TraceLogProbs = storedLogProbs,
    });
    result.Loss.backward();
    optimizer.step();
    Console.WriteLine($"exgrpo: replayed {exgrpoBatch.Statistics.ReplayedSamples} of {exgrpoBatch.Count}, buffer {experience.Statistics.Questions} questions / {experience.Statistics.Trajectories} trajectories, loss {result.Metrics.Loss:F6}, off_ratio_mean {result.Metrics.OffPolicyRatioMean:F4}, kernel {result.Kernel}");
    if (!double.IsFinite(result.Metrics.Loss) || exgrpoBatch.Statistics.ReplayedSamples != replay.Replay.Count || result.Metrics.OffPolicyTokens == 0)
    {
        Console.WriteLine("FAILED: the ExGRPO step did not replay");
        return 1;
    }
}
Console.WriteLine("consumer exgrpo step: ok");
return 0;

/// <summary>A shaping function of our own: LUFFY's p/(p + γ), capped at 0.9 (no gradient above the cap). Name and f are all it writes: autograd differentiates it.</summary>
internal sealed class CappedShaping(double gamma) : IShapingFunction
{
    public string Name => $"capped({gamma})";

    public Tensor Apply(Tensor logProbs) => (logProbs.exp() / (logProbs.exp() + gamma)).clamp_max(0.9);
}

/// <summary>An advantage estimator of our own: reward minus the group's median reward.</summary>
internal sealed class MedianBaselineAdvantage : IAdvantageEstimator
{
    public string Name => "median-baseline";

    public AdvantageResult Compute(RewardBatch batch)
    {
        double[] rewards = batch.Rewards.to_type(ScalarType.Float64).data<double>().ToArray();
        long[] groups = batch.GroupIds.to_type(ScalarType.Int64).data<long>().ToArray();
        var advantages = new double[rewards.Length];
        foreach (IGrouping<long, int> group in Enumerable.Range(0, rewards.Length).GroupBy(i => groups[i]))
        {
            double[] sorted = group.Select(i => rewards[i]).Order().ToArray();
            double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
            foreach (int i in group)
            {
                advantages[i] = rewards[i] - median;
            }
        }
        using Tensor values = tensor(advantages, dtype: batch.Rewards.dtype);
        return AdvantageResult.Create(values, batch);
    }
}
