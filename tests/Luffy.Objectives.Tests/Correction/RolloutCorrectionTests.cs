using Luffy.Objectives.Correction;

namespace Luffy.Objectives.Tests.Correction;

public class RolloutCorrectionTests
{
    /// <summary>An independent double-precision computation of the weights and metrics (docs/objectives.md, "Rollout correction").</summary>
    private static (double[,] Weights, Dictionary<string, double> Metrics) Reference(double[,] old, double[,] rollout, bool[,] corrected, bool[,] response, RolloutCorrectionLevel level, double c, bool normalize)
    {
        int b = old.GetLength(0), t = old.GetLength(1);
        var w = new double[b, t];
        var rowSums = new double[b];
        var rowCounts = new int[b];
        int n = 0;
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                if (corrected[i, j])
                {
                    rowSums[i] += old[i, j] - rollout[i, j];
                    rowCounts[i]++;
                    n++;
                }
            }
        }
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                if (corrected[i, j])
                {
                    w[i, j] = Math.Exp(Math.Clamp(level == RolloutCorrectionLevel.Token ? old[i, j] - rollout[i, j] : rowSums[i], -20, 20));
                }
            }
        }
        IEnumerable<(int I, int J)> Tokens() => from i in Enumerable.Range(0, b) from j in Enumerable.Range(0, t) where corrected[i, j] select (i, j);
        var values = Tokens().Select(p => w[p.I, p.J]).ToArray();
        var m = new Dictionary<string, double>();
        m["rollout_is_mean"] = n == 0 ? 0 : values.Average();
        if (level == RolloutCorrectionLevel.Token)
        {
            m["rollout_is_max"] = n == 0 ? 0 : values.Max();
            m["rollout_is_min"] = n == 0 ? 0 : values.Min();
            m["rollout_is_ratio_fraction_high"] = n == 0 ? 0 : values.Count(v => v > c) / (double)n;
            m["rollout_is_ratio_fraction_low"] = n == 0 ? 0 : values.Count(v => v < 1 / c) / (double)n;
        }
        else
        {
            m["rollout_is_max"] = Math.Exp(Math.Min(rowSums.Max(), 20));
            m["rollout_is_min"] = Math.Exp(rowSums.Min());
            m["rollout_is_ratio_fraction_high"] = rowSums.Count(s => s > Math.Log(c)) / (double)b;
            m["rollout_is_ratio_fraction_low"] = rowSums.Count(s => s < Math.Log(1 / c)) / (double)b;
        }
        double[] bounded = values.Select(v => Math.Clamp(v, 1 / c, c)).ToArray();
        double boundedMean = n == 0 ? 0 : bounded.Average();
        m["rollout_is_std"] = n > 1 ? Math.Sqrt(Math.Max(bounded.Average(v => v * v) - boundedMean * boundedMean, 0)) : 0;
        m["rollout_is_eff_sample_size"] = n == 0 ? 0 : 1 / bounded.Average(v => Math.Pow(v / (boundedMean + 1e-8), 2));
        double[] seq = Enumerable.Range(0, b).Select(i => rowCounts[i] == 0 ? 0 : Enumerable.Range(0, t).Where(j => corrected[i, j]).Sum(j => w[i, j]) / rowCounts[i]).ToArray();
        double seqMean = seq.Average();
        m["rollout_is_seq_mean"] = seqMean;
        m["rollout_is_seq_std"] = b > 1 ? Math.Sqrt(seq.Sum(s => (s - seqMean) * (s - seqMean)) / (b - 1)) : 0;
        m["rollout_is_seq_max"] = seq.Max();
        m["rollout_is_seq_min"] = seq.Min();
        m["rollout_is_seq_max_deviation"] = seq.Max(s => Math.Abs(s - 1));
        m["rollout_is_seq_fraction_high"] = seq.Count(s => s > c) / (double)b;
        m["rollout_is_seq_fraction_low"] = seq.Count(s => s < 1 / c) / (double)b;

        var result = new double[b, t];
        double factor = 1;
        if (normalize)
        {
            double mean = level == RolloutCorrectionLevel.Token
                ? (n == 0 ? 0 : Tokens().Average(p => Math.Min(w[p.I, p.J], c)))
                : Enumerable.Range(0, b).Where(i => rowCounts[i] > 0).Select(i => Enumerable.Range(0, t).Where(j => corrected[i, j]).Average(j => Math.Min(w[i, j], c))).DefaultIfEmpty(0).Average();
            factor = mean > 1e-8 ? mean : 1;
            m["rollout_is_batch_norm_factor"] = factor;
        }
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                result[i, j] = corrected[i, j] ? Math.Min(w[i, j], c) / factor : response[i, j] ? 1 : 0;
            }
        }
        return (result, m);
    }

    public static TheoryData<RolloutCorrectionLevel, double, bool, string> Settings()
    {
        var data = new TheoryData<RolloutCorrectionLevel, double, bool, string>();
        foreach (RolloutCorrectionLevel level in Enum.GetValues<RolloutCorrectionLevel>())
        {
            foreach ((double c, bool normalize) in new[] { (2.0, false), (2.0, true), (1.3, true), (5.0, false) })
            {
                data.Add(level, c, normalize, "float64");
                data.Add(level, c, normalize, "float32");
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public void Weights_and_metrics_match_an_independent_double_computation(RolloutCorrectionLevel level, double c, bool normalize, string dtype)
    {
        ScalarType type = dtype == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        double rtol = Tensors.Tolerance(type);
        foreach (int seed in new[] { 1, 2, 3 })
        {
            MixedBatch batch = MixedBatch.Random(seed);
            var rng = new Random(seed);
            double scale = level == RolloutCorrectionLevel.Token ? 0.5 : 0.06; // sequence sums stay around ±1
            var rollout = new double[batch.B, batch.T];
            var corrected = new bool[batch.B, batch.T];
            for (int i = 0; i < batch.B; i++)
            {
                for (int j = 0; j < batch.T; j++)
                {
                    rollout[i, j] = batch.OldLogProbs[i, j] + scale * MixedBatch.Normal(rng);
                    corrected[i, j] = batch.Mask[i, j] && !batch.OffPolicy[i, j];
                    if (type == ScalarType.Float32)
                    {
                        rollout[i, j] = (float)rollout[i, j];
                        batch.OldLogProbs[i, j] = (float)batch.OldLogProbs[i, j];
                    }
                }
            }
            (double[,] weights, Dictionary<string, double> metrics) = Reference(batch.OldLogProbs, rollout, corrected, batch.Mask, level, c, normalize);
            using RolloutCorrectionResult result = RolloutCorrection.Compute(
                Tensors.From(batch.OldLogProbs, type), Tensors.From(rollout, type), Tensors.Mask(batch.Mask),
                new RolloutCorrectionOptions { Level = level, Threshold = c, BatchNormalize = normalize }, Tensors.Mask(batch.OffPolicy).logical_not());
            Assert.Equal(type, result.Weights.dtype);
            Assert.False(result.Weights.requires_grad);
            AssertClose.Matrix(weights, Tensors.ToMatrix(result.Weights), rtol, $"weights (seed {seed})");
            var named = result.Metrics.ToNamedValues().ToDictionary(p => p.Key["rollout_corr/".Length..], p => p.Value);
            Assert.Equal(metrics.Keys.Order(), named.Keys.Order());
            foreach ((string name, double value) in metrics)
            {
                AssertClose.Scalar(value, named[name], rtol, 1.0, $"{name} (seed {seed})");
            }
        }
    }

    [Fact]
    public void Equal_log_probs_give_weight_one_and_an_effective_sample_size_of_one()
    {
        Tensor old = -rand(4, 7, dtype: ScalarType.Float64);
        using RolloutCorrectionResult result = RolloutCorrection.Compute(old, old.clone(), ones(4, 7, dtype: ScalarType.Bool));
        Assert.All(Tensors.ToArray(result.Weights), w => Assert.Equal(1.0, w));
        Assert.Equal((1 + 1e-8) * (1 + 1e-8), result.Metrics.EffectiveSampleSize, 12); // ŵ = w'/(mean + 1e-8)
        Assert.Equal(0.0, result.Metrics.Std);
        Assert.Equal(28, result.Metrics.Tokens);
    }

    [Fact]
    public void Weights_are_truncated_at_the_threshold_and_trace_tokens_keep_one()
    {
        Tensor old = tensor(new[,] { { 0.0, 0.0, 0.0 } }, dtype: ScalarType.Float64);
        Tensor rollout = tensor(new[,] { { -3.0, 0.5, -3.0 } }, dtype: ScalarType.Float64);
        using RolloutCorrectionResult result = RolloutCorrection.Compute(old, rollout, tensor(new[,] { { true, true, false } }), correctedMask: tensor(new[,] { { true, false, true } }));
        Assert.Equal(new[] { 2.0, 1.0, 0.0 }, Tensors.ToArray(result.Weights)); // e^3 truncated at C = 2; trace token 1; padding 0
        Assert.Equal(Math.Exp(3), result.Metrics.Max, 12); // metrics before truncation
        Assert.Equal(1.0, result.Metrics.FractionHigh);
    }

    [Fact]
    public void Weights_multiply_into_the_loss()
    {
        MixedBatch batch = MixedBatch.Random(21);
        (PolicyLossInputs inputs, _, _) = batch.ToInputs(ScalarType.Float64, Extras.None);
        using RolloutCorrectionResult weights = RolloutCorrection.Compute(inputs.OldLogProbs, inputs.OldLogProbs - 0.2, inputs.ResponseMask, new RolloutCorrectionOptions { Threshold = 10 });
        using PolicyLossResult plain = new MixedPolicyLoss(new PolicyLossOptions { OnPolicy = ClippedSurrogate.Unclipped, Shaping = new IdentityShaping(), Aggregation = LossAggregation.SequenceMeanTokenSumNorm }).Compute(inputs);
        using PolicyLossResult weighted = new MixedPolicyLoss(new PolicyLossOptions { OnPolicy = ClippedSurrogate.Unclipped, Shaping = new IdentityShaping(), Aggregation = LossAggregation.SequenceMeanTokenSumNorm }).Compute(inputs with { RolloutWeights = weights.Weights });
        Assert.Equal(Math.Exp(0.2) * Tensors.Scalar(plain.Loss), Tensors.Scalar(weighted.Loss), 12); // every token weighs e^0.2
    }

    [Fact]
    public void Shapes_dtypes_and_empty_batches_are_checked()
    {
        Assert.Contains("rolloutLogProbs has shape [2, 4] but oldLogProbs has shape [2, 3]",
            Assert.Throws<ArgumentException>(() => RolloutCorrection.Compute(zeros(2, 3), zeros(2, 4), ones(2, 3, dtype: ScalarType.Bool))).Message);
        Assert.Contains("responseMask has dtype Float32",
            Assert.Throws<ArgumentException>(() => RolloutCorrection.Compute(zeros(2, 3), zeros(2, 3), ones(2, 3))).Message);
        Assert.Contains("at least one sequence",
            Assert.Throws<ArgumentException>(() => RolloutCorrection.Compute(zeros(0, 3), zeros(0, 3), ones(0, 3, dtype: ScalarType.Bool))).Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(0.5)] // would cap every weight, also w = 1, at 0.5
    [InlineData(0.999)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NaN)]
    public void Threshold_must_be_at_least_one_and_finite(double threshold) =>
        Assert.Equal("Threshold", Assert.Throws<ArgumentOutOfRangeException>(() => new RolloutCorrectionOptions { Threshold = threshold }).ParamName);

    [Fact]
    public void An_unknown_level_is_rejected() =>
        Assert.Equal("Level", Assert.Throws<ArgumentOutOfRangeException>(() => new RolloutCorrectionOptions { Level = (RolloutCorrectionLevel)5 }).ParamName);

    [Fact]
    public void A_disposed_result_throws_object_disposed()
    {
        RolloutCorrectionResult result = RolloutCorrection.Compute(zeros(1, 2), zeros(1, 2), ones(1, 2, dtype: ScalarType.Bool));
        result.Dispose();
        Assert.Throws<ObjectDisposedException>(() => result.Weights);
        Assert.Throws<ObjectDisposedException>(() => result.Metrics);
    }
}
