using Luffy.Objectives.Advantages;
using Luffy.Objectives.Batching;
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
using MicroBatches microBatches = MicroBatcher.ByCount(batch, 5);
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
