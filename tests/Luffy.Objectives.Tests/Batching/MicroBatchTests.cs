namespace Luffy.Objectives.Tests.Batching;

public class MicroBatchTests
{
    private const int Eos = 2;

    private static TrainingBatch Build()
    {
        var trace = new OffPolicyTrace([20, 21, 22], [-0.5f, -0.25f, -1f]);
        return new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [Eos], MaxResponseLength = 6 }).Build(
        [
            new PromptInput(1, [5, 6], [SampleInput.OnPolicy([10, 11, Eos], [-1f, -2f, -0.5f], reward: 0), SampleInput.FullTrace(trace, reward: 1)]),
            new PromptInput(2, [7], [SampleInput.OnPolicy([12, Eos], reward: 1), SampleInput.PrefixContinuation(trace, 1, [13, Eos], [-0.3f, -0.1f], reward: 0)]),
        ]);
    }

    [Fact]
    public void Rows_and_slices_follow_the_full_batch()
    {
        using TrainingBatch batch = Build();
        IReadOnlyList<MicroBatch> micro = MicroBatcher.ByCount(batch, 3);
        Assert.Equal(new[] { 0, 3 }, micro.Select(m => m.Start));
        Assert.Equal(new[] { 3, 1 }, micro.Select(m => m.Count));
        Tensor perRow = arange(4, dtype: ScalarType.Float64).unsqueeze(1).expand(4, 5);
        Assert.Equal(new[] { 3.0, 3, 3, 3, 3 }, Tensors.ToArray(micro[1].Slice(perRow)));
        Assert.Contains("first dimension must be the full batch's B = 4", Assert.Throws<ArgumentException>(() => micro[0].Slice(zeros(3, 5))).Message);
        foreach (MicroBatch m in micro)
        {
            m.Dispose();
        }
    }

    [Fact]
    public void Normalizers_count_the_whole_batch_for_the_options()
    {
        using TrainingBatch batch = Build();
        IReadOnlyList<MicroBatch> micro = MicroBatcher.ByCount(batch, 1);
        // lengths 3, 4 (trace + EOS), 2, 3 (1 forced + 2 generated); rows 1 and 3 carry a trace
        LossNormalizers tokenMean = micro[2].Normalizers(new PolicyLossOptions());
        Assert.Equal(12, tokenMean.Policy);
        Assert.Equal(7, tokenMean.Sft);
        LossNormalizers excluded = micro[0].Normalizers(PolicyLossOptions.RlWithSftLoss(1, new PolicyLossOptions { Aggregation = LossAggregation.SequenceMeanTokenMean }));
        Assert.Equal(2, excluded.Policy);
        Assert.Equal(4, excluded.Regularizer);
        Assert.Equal(4, micro[0].Normalizers(PolicyLossOptions.LuffyMainRun).Policy); // C = T, the longest response
        Assert.Equal(LossNormalizers.FromMasks(new PolicyLossOptions(), batch.ResponseMask, batch.OffPolicyMask), tokenMean);
        foreach (MicroBatch m in micro)
        {
            m.Dispose();
        }
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void One_call_per_micro_batch_gives_the_full_batch_loss_gradient_and_metrics(LossKernel kernel)
    {
        // the realistic loop used to fill PolicyLossInputs from four objects; leaving out the normalizers scaled the
        // gradient by the number of micro-batches without a word
        using TrainingBatch batch = Build();
        manual_seed(9);
        Tensor table = randn(batch.Count, batch.PromptLength + batch.ResponseLength, 32, dtype: ScalarType.Float64).requires_grad_(); // the "model"
        Tensor old = randn(batch.Count, batch.ResponseLength, dtype: ScalarType.Float64).clamp_max(0);
        Tensor advantages = randn(batch.Count, batch.ResponseLength, dtype: ScalarType.Float64);
        Tensor reference = old - 0.1, weights = rand(batch.Count, batch.ResponseLength, dtype: ScalarType.Float64) + 0.5;
        var loss = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun with { Kernel = kernel, KlCoefficient = 0.05, SftCoefficient = 0.2 });

        using TokenStatisticsResult all = TokenStatistics.ForResponses(table, batch);
        using PolicyLossResult whole = loss.Compute(new PolicyLossInputs
        {
            LogProbs = all.LogProbs, OldLogProbs = old, Advantages = advantages, ResponseMask = batch.ResponseMask, OffPolicyMask = batch.OffPolicyMask,
            Entropy = all.Entropy, ReferenceLogProbs = reference, RolloutWeights = weights,
        });
        whole.Loss.backward();
        double[] expected = Tensors.ToArray(table.grad!);
        table.grad = null;

        double sum = 0;
        var metrics = new List<PolicyLossMetrics>();
        using (MicroBatches parts = MicroBatcher.ByCount(batch, 3))
        {
            foreach (MicroBatch m in parts)
            {
                using TokenStatisticsResult statistics = TokenStatistics.ForResponses(table.narrow(0, m.Start, m.Count), m.Batch);
                using PolicyLossResult result = loss.Compute(m, statistics, old, advantages, referenceLogProbs: reference, rolloutWeights: weights);
                result.Loss.backward();
                sum += Tensors.Scalar(result.Loss);
                metrics.Add(result.Metrics);
            }
        }
        AssertClose.Scalar(Tensors.Scalar(whole.Loss), sum, 1e-12);
        AssertClose.Array(expected, Tensors.ToArray(table.grad!), 1e-12);
        var combined = PolicyLossMetrics.Combine(metrics).ToNamedValues();
        var full = whole.Metrics.ToNamedValues();
        for (int k = 0; k < full.Count; k++)
        {
            AssertClose.Scalar(full[k].Value, combined[k].Value, 1e-12, 1.0, full[k].Key);
        }
    }

    [Fact]
    public void Inputs_take_the_micro_batch_rows_of_every_whole_batch_tensor()
    {
        using TrainingBatch batch = Build();
        using MicroBatches parts = MicroBatcher.ByCount(batch, 3);
        Tensor perRow = arange(4, dtype: ScalarType.Float32).unsqueeze(1).expand(4, batch.ResponseLength).contiguous();
        using TokenStatisticsResult statistics = TokenStatistics.ForResponses(zeros(1, batch.PromptLength + batch.ResponseLength, 32), parts[1].Batch);
        PolicyLossInputs inputs = parts[1].Inputs(new MixedPolicyLoss(), statistics, perRow, perRow * 2, referenceLogProbs: perRow * 3, rolloutWeights: perRow * 4, traceProbabilities: perRow * 5);
        Assert.Equal(3.0, Tensors.ToArray(inputs.OldLogProbs)[0]);
        Assert.Equal(6.0, Tensors.ToArray(inputs.Advantages)[0]);
        Assert.Equal(9.0, Tensors.ToArray(inputs.ReferenceLogProbs!)[0]);
        Assert.Equal(12.0, Tensors.ToArray(inputs.RolloutWeights!)[0]);
        Assert.Equal(15.0, Tensors.ToArray(inputs.TraceProbabilities!)[0]);
        Assert.Equal(parts[1].Normalizers(new PolicyLossOptions()), inputs.Normalizers);
        Assert.Contains("B = 4", Assert.Throws<ArgumentException>(() => parts[0].Inputs(new MixedPolicyLoss(), statistics, zeros(3, 5), perRow)).Message);
    }
}
