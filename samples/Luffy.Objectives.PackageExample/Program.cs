// The first example of the package's README (src/Luffy.Objectives/PACKAGE.md shows this file between the markers).
// <snippet>
using Luffy.Objectives.Advantages;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Tokens;
using TorchSharp;
using static TorchSharp.torch;

manual_seed(0);
const int V = 16, Eos = 2;
var model = nn.Sequential(nn.Embedding(V, 32), nn.Linear(32, V));   // a toy model: token ids -> next-token logits
var optimizer = optim.AdamW(model.parameters(), lr: 1e-3);

// One prompt, G = 4 samples: three rollouts of the policy and one off-policy trace (a stronger model's solution).
PromptInput prompt = new(0, [4, 11, 12],
[
    SampleInput.OnPolicy([5, 6, Eos], reward: 0),
    SampleInput.OnPolicy([7, 6, 9, Eos], reward: 1),
    SampleInput.OnPolicy([3, Eos], reward: 0),
    SampleInput.FullTrace(new OffPolicyTrace([7, 8, 9]), reward: 1),   // EOS appended
]);
using TrainingBatch batch = new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [Eos], MaxResponseLength = 8, VocabularySize = V })
    .Build([prompt]);

// LUFFY's main run: Dr.GRPO advantages over the mixed group, p/(p + 0.1) on trace tokens, unclipped on-policy tokens.
var loss = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun);
using AdvantageResult advantages = new GroupNormalizedAdvantage(normalizeByStd: false).Compute(batch.ToRewardBatch());
using Tensor tokenAdvantages = advantages.ToTokens(batch.ResponseMask);
using Tensor old = OldLogProbs();

// Gradient accumulation over micro-batches of two sequences: each call takes its rows, its masks and the whole
// batch's normalizers, so the summed gradients are the full batch's.
optimizer.zero_grad();
var metrics = new List<PolicyLossMetrics>();
using (MicroBatches microBatches = MicroBatcher.ByCount(batch, 2))
{
    foreach (MicroBatch micro in microBatches)
    {
        using TokenStatisticsResult statistics = TokenStatistics.ForResponses(model.forward(micro.Batch.InputIds), micro.Batch);
        using PolicyLossResult result = loss.Compute(micro, statistics, old, tokenAdvantages);
        result.Loss.backward();
        metrics.Add(result.Metrics);
    }
}
optimizer.step();
PolicyLossMetrics step = PolicyLossMetrics.Combine(metrics);
Console.WriteLine($"loss {step.Loss:F4}, trace tokens {step.OffPolicyTokens}, mean f(p) {step.OffPolicyRatioMean:F4}");

// The rollout policy's log-probs of the whole batch (here: the model before the step).
Tensor OldLogProbs()
{
    using var noGrad = no_grad();
    using TokenStatisticsResult statistics = TokenStatistics.ForResponses(model.forward(batch.InputIds), batch);
    return statistics.LogProbs.clone();
}
// </snippet>
