namespace Luffy.Objectives.Tests.Losses;

[Collection(GlobalRandomCollection.Name)]
public class NegativeLogLikelihoodLossTests
{
    private static readonly double[,] LogProbs = { { -0.5, -2.0, -0.1, -3.0 }, { -1.5, -0.2, -0.7, -0.05 }, { -4.0, -1.0, -0.3, -0.9 } };
    private static readonly bool[,] Mask = { { true, true, true, false }, { true, false, false, false }, { false, false, false, false } };

    public static TheoryData<LossAggregation, double?> Modes() => new()
    {
        { LossAggregation.TokenMean, null },
        { LossAggregation.SequenceMeanTokenMean, null },
        { LossAggregation.SequenceMeanTokenSum, null },
        { LossAggregation.SequenceMeanTokenSumNorm, 10.0 },
    };

    /// <summary>Independent double computation of the aggregated −log p and its gradient.</summary>
    private static (double Loss, double[] Gradient) Reference(LossAggregation mode, double? constant)
    {
        int b = LogProbs.GetLength(0), t = LogProbs.GetLength(1);
        var gradient = new double[b * t];
        int tokens = 0, sequences = 0;
        for (int i = 0; i < b; i++)
        {
            int n = Enumerable.Range(0, t).Count(j => Mask[i, j]);
            tokens += n;
            sequences += n > 0 ? 1 : 0;
        }
        double loss = 0;
        for (int i = 0; i < b; i++)
        {
            int n = Enumerable.Range(0, t).Count(j => Mask[i, j]);
            for (int j = 0; j < t; j++)
            {
                if (!Mask[i, j])
                {
                    continue;
                }
                double weight = mode switch
                {
                    LossAggregation.TokenMean => 1.0 / tokens,
                    LossAggregation.SequenceMeanTokenMean => 1.0 / n / sequences,
                    LossAggregation.SequenceMeanTokenSum => 1.0 / sequences,
                    _ => 1.0 / constant!.Value,
                };
                loss += -LogProbs[i, j] * weight;
                gradient[i * t + j] = -weight;
            }
        }
        return (loss, gradient);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Loss_and_gradient_match_an_independent_double_computation(LossAggregation mode, double? constant)
    {
        (double expectedLoss, double[] expectedGradient) = Reference(mode, constant);
        Tensor logp = Tensors.From(LogProbs, ScalarType.Float64, requiresGrad: true);
        var nll = new NegativeLogLikelihoodLoss(mode, constant);
        using (PolicyLossResult result = nll.Compute(logp, Tensors.Mask(Mask)))
        {
            result.Loss.backward();
            AssertClose.Scalar(expectedLoss, Tensors.Scalar(result.Loss), 1e-12);
            AssertClose.Array(expectedGradient, Tensors.ToArray(logp.grad!), 1e-12);
            Assert.Equal(4, result.Metrics.OffPolicyTokens);
        }
    }

    [Theory]
    [InlineData(MicroBatchLayout.Consecutive)]
    [InlineData(MicroBatchLayout.Trimmed)]
    [InlineData(MicroBatchLayout.SortedByLength)]
    public void Micro_batches_sum_to_the_full_batch(MicroBatchLayout layout)
    {
        using TrainingBatch batch = new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [2], MaxResponseLength = 5 }).Build(
        [
            new PromptInput(1, [5], [SampleInput.FullTrace(new OffPolicyTrace([7, 8, 9]), reward: 1)]),
            new PromptInput(2, [6], [SampleInput.FullTrace(new OffPolicyTrace([10]), reward: 1)]),
            new PromptInput(3, [4], [SampleInput.FullTrace(new OffPolicyTrace([11, 12]), reward: 1)]),
        ]);
        manual_seed(2);
        Tensor table = randn(batch.Count, batch.PromptLength + batch.ResponseLength, 16, dtype: ScalarType.Float64).requires_grad_();
        var nll = new NegativeLogLikelihoodLoss(LossAggregation.SequenceMeanTokenMean);
        using TokenStatisticsResult all = TokenStatistics.ForResponses(table, batch);
        using PolicyLossResult whole = nll.Compute(all.LogProbs, batch.ResponseMask);
        whole.Loss.backward();
        double[] expected = Tensors.ToArray(table.grad!);
        table.grad = null;
        double sum = 0;
        using (MicroBatches parts = MicroBatcher.ByCount(batch, 2, layout))
        {
            foreach (MicroBatch m in parts)
            {
                using TokenStatisticsResult statistics = TokenStatistics.ForResponses(m.SliceSequences(table), m.Batch);
                using PolicyLossResult part = nll.Compute(m, statistics);
                part.Loss.backward();
                sum += Tensors.Scalar(part.Loss);
            }
        }
        AssertClose.Scalar(Tensors.Scalar(whole.Loss), sum, 1e-12);
        AssertClose.Array(expected, Tensors.ToArray(table.grad!), 1e-12);
    }

    [Fact]
    public void A_constant_without_sum_norm_is_rejected() =>
        Assert.Equal("AggregationConstant", Assert.Throws<ArgumentException>(() => new NegativeLogLikelihoodLoss(LossAggregation.TokenMean, 8)).ParamName);

    [Fact]
    public void A_mask_of_another_shape_is_named() =>
        Assert.Contains("mask has shape [2, 3]", Assert.Throws<ArgumentException>(() => new NegativeLogLikelihoodLoss().Compute(zeros(3, 4), ones(2, 3, dtype: ScalarType.Bool))).Message);
}
