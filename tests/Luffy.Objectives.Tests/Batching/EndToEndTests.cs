namespace Luffy.Objectives.Tests.Batching;

/// <summary>Builder → advantage estimator → mixed loss → backward through a tiny model.</summary>
[Collection(GlobalRandomCollection.Name)]
public class EndToEndTests
{
    [Fact]
    public void Trace_tokens_get_the_shaped_gradient_and_rollout_tokens_the_clipped_one()
    {
        manual_seed(1);
        const int V = 16, H = 8, Eos = 2;
        var embedding = nn.Embedding(V, H, dtype: ScalarType.Float64);
        var head = nn.Linear(H, V, dtype: ScalarType.Float64);

        var planner = new GroupPlanner(new GroupPlanOptions { SamplesPerPrompt = 4, TraceCarriers = 2, Strategy = new FixedPrefixStrategy(0, 1) });
        var trace = new OffPolicyTrace([5, 6, 7, 8]);
        PromptPlan plan = planner.Plan(3, [trace]);
        // the rollout engine's output for each plan (a prefix carrier continues after its forced prefix)
        int[][] generated = [[9, 10, Eos], [11, 12, 13, Eos], [14, Eos], []];
        double[] rewards = [0, 1, 1, 1];
        var samples = plan.Samples.Select((s, i) => SampleInput.FromPlan(s, generated[i], reward: rewards[i])).ToArray();
        using TrainingBatch batch = new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [Eos], VocabularySize = V }).Build([new PromptInput(3, [1, 3, 4], samples)]);
        Assert.Equal(new long[] { 0, 0, 2, 1 }, batch.SampleKinds.data<long>().ToArray());

        // policy log-probs of the response tokens from the tiny model (next-token prediction)
        Tensor hidden = embedding.call(batch.InputIds);
        Tensor logits = head.call(hidden).narrow(1, batch.PromptLength - 1, batch.ResponseLength);
        using TokenStatisticsResult stats = TokenStatistics.Compute(logits, batch.ResponseIds());
        Tensor logp = stats.LogProbs;
        logp.retain_grad();
        Tensor old = (logp.detach() + 0.3 * randn_like(logp)).clamp_max(0);

        using AdvantageResult advantages = new GroupNormalizedAdvantage().Compute(batch.ToRewardBatch());
        Tensor tokenAdvantages = advantages.ToTokens(batch.ResponseMask).to_type(ScalarType.Float64); // rewards are float32, the model float64
        var options = new PolicyLossOptions();
        using PolicyLossResult result = new MixedPolicyLoss(options).Compute(new PolicyLossInputs
        {
            LogProbs = logp, OldLogProbs = old, Advantages = tokenAdvantages, ResponseMask = batch.ResponseMask, OffPolicyMask = batch.OffPolicyMask,
        });
        result.Loss.backward();

        double[,] lp = Tensors.ToMatrix(logp), o = Tensors.ToMatrix(old), a = Tensors.ToMatrix(tokenAdvantages), g = Tensors.ToMatrix(logp.grad!);
        bool[][] mask = Enumerable.Range(0, batch.Count).Select(i => batch.ResponseMask[i].data<bool>().ToArray()).ToArray();
        bool[][] off = Enumerable.Range(0, batch.Count).Select(i => batch.OffPolicyMask[i].data<bool>().ToArray()).ToArray();
        double n = mask.Sum(r => r.Count(x => x));
        int offTokens = 0, onTokens = 0;
        for (int i = 0; i < batch.Count; i++)
        {
            for (int j = 0; j < batch.ResponseLength; j++)
            {
                double expected;
                if (!mask[i][j])
                {
                    expected = 0;
                }
                else if (off[i][j])
                {
                    double p = Math.Exp(lp[i, j]);
                    expected = -a[i, j] * 0.1 * p / ((p + 0.1) * (p + 0.1)) / n;
                    offTokens++;
                }
                else
                {
                    expected = ReferenceLoss.Surrogate(lp[i, j], o[i, j], a[i, j], (ClippedSurrogate)options.OnPolicy).Grad / n;
                    onTokens++;
                }
                Assert.Equal(expected, g[i, j], 12);
            }
        }
        Assert.Equal(2 + 5, offTokens);   // prefix carrier: floor(0.5 * 4) = 2 forced tokens; full trace: 4 tokens + EOS
        Assert.True(onTokens > 0);
        Assert.NotNull(head.weight!.grad);
        Assert.True(head.weight.grad!.abs().sum().item<double>() > 0);
    }
}
