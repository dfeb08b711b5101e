// One LUFFY training step on a toy policy. The README shows this file between the snippet markers.
// <snippet>
using Luffy.Objectives.Advantages;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Tokens;
using TorchSharp;
using static TorchSharp.torch;

manual_seed(0);
const int B = 4, T = 6, V = 10;            // 4 samples of one prompt, 6 response tokens, vocabulary of 10
var policy = nn.Parameter(randn(T, V));     // a toy "model": one row of logits per position
var optimizer = optim.AdamW([policy], lr: 1e-2);

// Rollouts: rows 0-2 were sampled by the policy, row 3 is an off-policy demonstration trace.
Tensor tokens = randint(V, new long[] { B, T });
Tensor responseMask = tensor(new[,] { { 1, 1, 1, 1, 0, 0 }, { 1, 1, 1, 1, 1, 1 }, { 1, 1, 0, 0, 0, 0 }, { 1, 1, 1, 1, 1, 0 } }).to(ScalarType.Bool);
Tensor offPolicyMask = zeros(B, T, dtype: ScalarType.Bool);
offPolicyMask[3] = responseMask[3];
Tensor rewards = tensor(new[] { 0.0f, 0.0f, 1.0f, 1.0f });   // rule-based verifier: 1 = correct
Tensor groupIds = zeros(B, dtype: ScalarType.Int64);         // all four belong to prompt 0

// Advantages: Dr.GRPO (no std normalisation) over the whole group, trace included (LUFFY's main run).
using AdvantageResult advantages = new GroupNormalizedAdvantage(normalizeByStd: false).Compute(new RewardBatch(rewards, groupIds));

// Token statistics under the current policy; the "old" log-probs are the same values, detached.
Tensor logits = policy.unsqueeze(0).expand(B, T, V);
using TokenStatisticsResult stats = TokenStatistics.Compute(logits, tokens);
var loss = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun);
using PolicyLossResult result = loss.Compute(new PolicyLossInputs
{
    LogProbs = stats.LogProbs,
    OldLogProbs = stats.LogProbs.detach(),
    Advantages = advantages.ToTokens(responseMask),
    ResponseMask = responseMask,
    OffPolicyMask = offPolicyMask,
    Entropy = stats.Entropy,
});

optimizer.zero_grad();
result.Loss.backward();
optimizer.step();
Console.WriteLine($"loss {result.Metrics.Loss:F4}, off-policy p {result.Metrics.OffPolicyProbability:F4}, f(p) {result.Metrics.OffPolicyRatioMean:F4}");
// </snippet>
