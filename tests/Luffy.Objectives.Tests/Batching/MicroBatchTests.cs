namespace Luffy.Objectives.Tests.Batching;

[Collection(GlobalRandomCollection.Name)]
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
        Assert.Equal(new[] { 0, 1, 2 }, micro[0].Rows);
        Assert.Equal(new[] { 3 }, micro[1].Rows);
        Assert.Equal(new[] { 3, 1 }, micro.Select(m => m.Count));
        int t = batch.ResponseLength;
        Tensor perRow = arange(4, dtype: ScalarType.Float64).unsqueeze(1).expand(4, t);
        Assert.Equal(Enumerable.Repeat(3.0, t), Tensors.ToArray(micro[1].Slice(perRow)));
        Assert.Equal(new[] { 3.0 }, Tensors.ToArray(micro[1].Slice(arange(4, dtype: ScalarType.Float64)))); // (B)
        Assert.Equal(new[] { 3.0 }, Tensors.ToArray(micro[1].Slice(perRow.narrow(1, 0, 1)))); // (B, 1)
        Assert.Contains("first dimension must be the full batch's B = 4", Assert.Throws<ArgumentException>(() => micro[0].Slice(zeros(3, t))).Message);
        Assert.Contains("use SliceSequences", Assert.Throws<ArgumentException>(() => micro[0].Slice(zeros(4, t + 2))).Message);
        Assert.Contains("P + T = " + (batch.PromptLength + t), Assert.Throws<ArgumentException>(() => micro[0].SliceSequences(zeros(4, t))).Message);
        foreach (MicroBatch m in micro)
        {
            m.Dispose();
        }
    }

    public static TheoryData<MicroBatchLayout, int> LayoutsAndSizes() => Theories.Cross(Enum.GetValues<MicroBatchLayout>(), [1, 2, 3, 4]);

    [Theory]
    [MemberData(nameof(LayoutsAndSizes))]
    public void Every_layout_covers_each_row_once_and_cuts_only_padding(MicroBatchLayout layout, int size)
    {
        using TrainingBatch batch = Build();
        using MicroBatches parts = MicroBatcher.ByCount(batch, size, layout);
        Assert.Equal(Enumerable.Range(0, batch.Count), parts.SelectMany(m => m.Rows).Order());
        long[] promptTokens = Tensors.ToArray(batch.AttentionMask.narrow(1, 0, batch.PromptLength).sum(1)).Select(v => (long)v).ToArray();
        long[] responseTokens = Tensors.ToArray(batch.AttentionMask.narrow(1, batch.PromptLength, batch.ResponseLength).sum(1)).Select(v => (long)v).ToArray();
        foreach (MicroBatch m in parts)
        {
            Assert.Equal(m.Rows.Order(), m.Rows); // ascending within a micro-batch
            Assert.Equal(batch.PromptLength, m.TotalPromptLength);
            Assert.Equal(batch.ResponseLength, m.TotalResponseLength);
            int p = layout == MicroBatchLayout.Consecutive ? batch.PromptLength : (int)m.Rows.Max(r => promptTokens[r]);
            int t = layout == MicroBatchLayout.Consecutive ? batch.ResponseLength : (int)Math.Max(1, m.Rows.Max(r => responseTokens[r]));
            Assert.Equal(p, m.Batch.PromptLength);
            Assert.Equal(t, m.Batch.ResponseLength);
            // the micro-batch's tensors are its rows of the full batch's, and the columns it dropped held nothing real
            Assert.Equal(Tensors.ToArray(m.SliceSequences(batch.InputIds)), Tensors.ToArray(m.Batch.InputIds));
            Assert.Equal(Tensors.ToArray(m.SliceSequences(batch.PositionIds)), Tensors.ToArray(m.Batch.PositionIds));
            Assert.Equal(Tensors.ToArray(m.Slice(batch.ResponseMask)), Tensors.ToArray(m.Batch.ResponseMask));
            Assert.Equal(Tensors.ToArray(m.Slice(batch.OffPolicyMask)), Tensors.ToArray(m.Batch.OffPolicyMask));
            Assert.Equal(Tensors.ToArray(m.Slice(batch.SamplingLogProbs)), Tensors.ToArray(m.Batch.SamplingLogProbs));
            Assert.Equal(m.Rows.Sum(r => promptTokens[r] + responseTokens[r]), Tensors.ToArray(m.Batch.AttentionMask).Sum());
            Assert.Equal(Tensors.ToArray(m.Slice(batch.Rewards)), Tensors.ToArray(m.Batch.Rewards));
        }
    }

    [Fact]
    public void The_sorted_layout_puts_the_longest_rows_first_and_groups_rows_of_similar_length()
    {
        using TrainingBatch batch = Build();
        // real tokens per row: prompt 2 + response 3, 2 + 4, 1 + 2, 1 + 3 -> longest first: rows 1, 0, 3, 2
        using MicroBatches parts = MicroBatcher.ByCount(batch, 2, MicroBatchLayout.SortedByLength);
        Assert.Equal(new[] { 0, 1 }, parts[0].Rows);
        Assert.Equal(new[] { 2, 3 }, parts[1].Rows);
        Assert.Equal((2, 4), (parts[0].Batch.PromptLength, parts[0].Batch.ResponseLength));
        Assert.Equal((1, 3), (parts[1].Batch.PromptLength, parts[1].Batch.ResponseLength));
        using MicroBatches single = MicroBatcher.ByCount(batch, 3, MicroBatchLayout.SortedByLength);
        Assert.Equal(new[] { 0, 1, 3 }, single[0].Rows);
        Assert.Equal(new[] { 2 }, single[1].Rows);
    }

    [Fact]
    public void Scatter_writes_a_micro_batch_part_back_into_its_rows_and_columns()
    {
        using TrainingBatch batch = Build();
        using MicroBatches parts = MicroBatcher.ByCount(batch, 2, MicroBatchLayout.SortedByLength);
        Tensor source = arange(batch.Count * batch.ResponseLength, dtype: ScalarType.Float32).reshape(batch.Count, batch.ResponseLength);
        Tensor target = full(batch.Count, batch.ResponseLength, -1f);
        foreach (MicroBatch m in parts)
        {
            m.Scatter(m.Slice(source), target);
        }
        double[] s = Tensors.ToArray(source), d = Tensors.ToArray(target);
        for (int i = 0; i < batch.Count; i++)
        {
            int width = parts.First(m => m.Rows.Contains(i)).Batch.ResponseLength;
            for (int j = 0; j < batch.ResponseLength; j++)
            {
                int k = i * batch.ResponseLength + j;
                Assert.Equal(j < width ? s[k] : -1, d[k]); // columns past the micro-batch's width are left as they are
            }
        }
        Assert.Contains("(2, 4)", Assert.Throws<ArgumentException>(() => parts[0].Scatter(zeros(2, 3), target)).Message);
        Assert.Contains("B = 4", Assert.Throws<ArgumentException>(() => parts[0].Scatter(zeros(2, 4), zeros(3, batch.ResponseLength))).Message);
    }

    [Theory]
    [InlineData(MicroBatchLayout.Consecutive)]
    [InlineData(MicroBatchLayout.Trimmed)]
    [InlineData(MicroBatchLayout.SortedByLength)]
    public void Splitting_reads_the_device_once_in_every_layout(MicroBatchLayout layout)
    {
        // on an accelerator every read is a synchronization: the counts, lengths and trace flags come in one transfer
        using TrainingBatch batch = Build();
        long before = Luffy.Objectives.Internal.HostTransfer.Reads;
        using (MicroBatcher.ByCount(batch, 1, layout))
        {
            Assert.Equal(1, Luffy.Objectives.Internal.HostTransfer.Reads - before);
        }
        before = Luffy.Objectives.Internal.HostTransfer.Reads;
        using (MicroBatcher.ByTokenBudget(batch, 5, layout))
        {
            Assert.Equal(1, Luffy.Objectives.Internal.HostTransfer.Reads - before);
        }
    }

    [Fact]
    public void An_undefined_layout_is_refused_by_name()
    {
        using TrainingBatch batch = Build();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => MicroBatcher.ByCount(batch, 2, (MicroBatchLayout)7));
        Assert.Equal("layout", ex.ParamName);
        Assert.Contains("Consecutive, Trimmed, SortedByLength", ex.Message);
        Assert.Equal("layout", Assert.Throws<ArgumentOutOfRangeException>(() => MicroBatcher.ByTokenBudget(batch, 5, (MicroBatchLayout)(-1))).ParamName);
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

    public static TheoryData<LossKernel, MicroBatchLayout> KernelsAndLayouts() => Theories.Cross([LossKernel.Fused, LossKernel.Composed], Enum.GetValues<MicroBatchLayout>());

    [Theory]
    [MemberData(nameof(KernelsAndLayouts))]
    public void One_call_per_micro_batch_gives_the_full_batch_loss_gradient_and_metrics(LossKernel kernel, MicroBatchLayout layout)
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
        using (MicroBatches parts = MicroBatcher.ByCount(batch, 3, layout))
        {
            foreach (MicroBatch m in parts)
            {
                // the "model" of a trimmed micro-batch sees only its columns (C of LUFFY's token-sum-norm stays the batch's T)
                using TokenStatisticsResult statistics = TokenStatistics.ForResponses(m.SliceSequences(table), m.Batch);
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
