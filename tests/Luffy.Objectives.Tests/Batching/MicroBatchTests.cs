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
}
