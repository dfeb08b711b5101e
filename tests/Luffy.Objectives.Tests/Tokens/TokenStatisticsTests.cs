using Luffy.Objectives.Internal;

namespace Luffy.Objectives.Tests.Tokens;

[Collection(GlobalRandomCollection.Name)]
public partial class TokenStatisticsTests
{
    private const int B = 3, T = 5, V = 11;

    private static (double[] Logits, long[] Ids) RandomInputs(int seed)
    {
        var rng = new Random(seed);
        double[] logits = Enumerable.Range(0, B * T * V).Select(_ => 4 * MixedBatch.Normal(rng)).ToArray();
        long[] ids = Enumerable.Range(0, B * T).Select(_ => (long)rng.Next(V)).ToArray();
        return (logits, ids);
    }

    /// <summary>Double-precision log-softmax at the ids, entropy, and their gradients for upstream weights gl, gh.</summary>
    private static (double[] LogProbs, double[] Entropy, double[] Grad) Reference(double[] logits, long[] ids, double tau, double[] gl, double[] gh)
    {
        int n = ids.Length;
        var lp = new double[n];
        var h = new double[n];
        var grad = new double[n * V];
        for (int r = 0; r < n; r++)
        {
            double[] z = Enumerable.Range(0, V).Select(k => logits[r * V + k] / tau).ToArray();
            double max = z.Max();
            double lse = max + Math.Log(z.Sum(x => Math.Exp(x - max)));
            double[] s = z.Select(x => Math.Exp(x - lse)).ToArray();
            lp[r] = z[ids[r]] - lse;
            double expected = Enumerable.Range(0, V).Sum(k => s[k] * z[k]);
            h[r] = lse - expected;
            for (int k = 0; k < V; k++)
            {
                double dLogp = (k == ids[r] ? 1 : 0) - s[k];
                double dEntropy = -s[k] * (z[k] - expected);
                grad[r * V + k] = (gl[r] * dLogp + gh[r] * dEntropy) / tau;
            }
        }
        return (lp, h, grad);
    }

    public static TheoryData<string, int, double> Cases() => new()
    {
        { "float64", 0, 1.0 },
        { "float32", 0, 1.0 },
        { "float64", 1, 0.7 },
        { "float64", 4, 1.0 },
        { "float32", 6, 1.3 },
        { "float64", 15, 1.0 },
        { "float64", 1000, 0.5 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Values_and_gradients_match_an_independent_double_computation(string dtype, int chunkSize, double temperature)
    {
        ScalarType type = dtype == "float64" ? ScalarType.Float64 : ScalarType.Float32;
        (double[] logitValues, long[] idValues) = RandomInputs(chunkSize + 17);
        var rng = new Random(5);
        double[] gl = Enumerable.Range(0, B * T).Select(_ => MixedBatch.Normal(rng)).ToArray();
        double[] gh = Enumerable.Range(0, B * T).Select(_ => MixedBatch.Normal(rng)).ToArray();
        if (type == ScalarType.Float32)
        {
            logitValues = logitValues.Select(x => (double)(float)x).ToArray();
        }
        (double[] lp, double[] h, double[] grad) = Reference(logitValues, idValues, temperature, gl, gh);

        Tensor logits = tensor(logitValues, new long[] { B, T, V }).to_type(type).requires_grad_(true);
        Tensor ids = tensor(idValues, new long[] { B, T });
        using TokenStatisticsResult result = TokenStatistics.Compute(logits, ids, chunkSize, temperature);
        Tensor objective = (result.LogProbs * tensor(gl, new long[] { B, T }).to_type(type)).sum() + (result.Entropy * tensor(gh, new long[] { B, T }).to_type(type)).sum();
        objective.backward();

        double rtol = Tensors.Tolerance(type) * (type == ScalarType.Float32 ? 10 : 1);
        AssertClose.Array(lp, Tensors.ToArray(result.LogProbs), rtol, "log-probs");
        AssertClose.Array(h, Tensors.ToArray(result.Entropy), rtol, "entropy");
        AssertClose.Array(grad, Tensors.ToArray(logits.grad!), rtol, "d/dlogits");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void Entropies_of_peaked_distributions_with_large_logits_stay_accurate_in_float32(int chunkSize)
    {
        // logits of size ~100 make softmax nearly one-hot: logsumexp(z) and Σ s·z are both ~100 and agree to ~1e-5,
        // so computing H as their difference would lose everything float32 has; −Σ s·log s keeps it.
        (double[] logitValues, long[] idValues) = RandomInputs(41);
        logitValues = logitValues.Select(x => (double)(float)(25 * x)).ToArray();
        double[] zeros = new double[B * T];
        (_, double[] h, _) = Reference(logitValues, idValues, 1.0, zeros, zeros);
        Assert.Contains(h, v => v < 1e-3 && v > 0);
        Tensor logits = tensor(logitValues, new long[] { B, T, V }).to_type(ScalarType.Float32);
        using TokenStatisticsResult result = TokenStatistics.Compute(logits, tensor(idValues, new long[] { B, T }), chunkSize);
        double[] actual = Tensors.ToArray(result.Entropy);
        for (int i = 0; i < h.Length; i++)
        {
            Assert.True(Math.Abs(actual[i] - h[i]) <= 1e-6 + 1e-4 * h[i], $"position {i}: {actual[i]} vs {h[i]}");
        }
    }

    [Fact]
    public void Single_purpose_helpers_agree_with_compute()
    {
        (double[] logitValues, long[] idValues) = RandomInputs(3);
        Tensor logits = tensor(logitValues, new long[] { B, T, V });
        Tensor ids = tensor(idValues, new long[] { B, T });
        using TokenStatisticsResult result = TokenStatistics.Compute(logits, ids, chunkSize: 2, temperature: 0.9);
        AssertClose.Array(Tensors.ToArray(result.LogProbs), Tensors.ToArray(TokenStatistics.LogProbs(logits, ids, 0.9)), 1e-12);
        AssertClose.Array(Tensors.ToArray(result.Entropy), Tensors.ToArray(TokenStatistics.Entropy(logits, 0.9)), 1e-12);
    }

    [Property(MaxTest = 30)]
    public Property Chunked_and_unchunked_paths_agree_for_any_chunk_size() =>
        Prop.ForAll(Gen.Choose(1, 40).ToArbitrary(), Gen.Choose(0, 10_000).ToArbitrary(), (chunk, seed) =>
        {
            (double[] logitValues, long[] idValues) = RandomInputs(seed);
            Tensor a = tensor(logitValues, new long[] { B, T, V }).requires_grad_(true);
            Tensor b = tensor(logitValues, new long[] { B, T, V }).requires_grad_(true);
            Tensor ids = tensor(idValues, new long[] { B, T });
            using TokenStatisticsResult plain = TokenStatistics.Compute(a, ids);
            using TokenStatisticsResult chunked = TokenStatistics.Compute(b, ids, chunk);
            (plain.LogProbs.sum() + plain.Entropy.mean()).backward();
            (chunked.LogProbs.sum() + chunked.Entropy.mean()).backward();
            AssertClose.Array(Tensors.ToArray(plain.LogProbs), Tensors.ToArray(chunked.LogProbs), 1e-12);
            AssertClose.Array(Tensors.ToArray(a.grad!), Tensors.ToArray(b.grad!), 1e-12);
            return true;
        });

    [Fact]
    public void Gradient_through_only_the_log_probs_works_in_the_chunked_path()
    {
        (double[] logitValues, long[] idValues) = RandomInputs(8);
        Tensor logits = tensor(logitValues, new long[] { B, T, V }).requires_grad_(true);
        using TokenStatisticsResult result = TokenStatistics.Compute(logits, tensor(idValues, new long[] { B, T }), chunkSize: 4);
        result.LogProbs.sum().backward();
        double[] expected = Reference(logitValues, idValues, 1.0, Enumerable.Repeat(1.0, B * T).ToArray(), new double[B * T]).Grad;
        AssertClose.Array(expected, Tensors.ToArray(logits.grad!), 1e-10);
    }

    [Property(MaxTest = 25)]
    public Property Hidden_state_path_equals_logits_path_in_values_and_gradients() =>
        Prop.ForAll(Gen.Choose(1, 20).ToArbitrary(), Gen.Choose(0, 10_000).ToArbitrary(), (chunk, seed) =>
        {
            manual_seed(seed);
            const int h = 6;
            double tau = 0.5 + (seed % 3) * 0.4;
            Tensor hiddenA = randn(B, T, h, dtype: ScalarType.Float64).requires_grad_(true);
            Tensor weightA = randn(V, h, dtype: ScalarType.Float64).requires_grad_(true);
            Tensor hiddenB = hiddenA.detach().clone().requires_grad_(true);
            Tensor weightB = weightA.detach().clone().requires_grad_(true);
            Tensor ids = randint(V, new long[] { B, T });
            Tensor gl = randn(B, T, dtype: ScalarType.Float64), gh = randn(B, T, dtype: ScalarType.Float64);

            using TokenStatisticsResult naive = TokenStatistics.Compute(hiddenA.matmul(weightA.t()), ids, temperature: tau);
            using TokenStatisticsResult chunked = TokenStatistics.FromHiddenStates(hiddenB, weightB, ids, chunk, tau);
            ((naive.LogProbs * gl).sum() + (naive.Entropy * gh).sum()).backward();
            ((chunked.LogProbs * gl).sum() + (chunked.Entropy * gh).sum()).backward();

            AssertClose.Array(Tensors.ToArray(naive.LogProbs), Tensors.ToArray(chunked.LogProbs), 1e-12, "log-probs");
            AssertClose.Array(Tensors.ToArray(naive.Entropy), Tensors.ToArray(chunked.Entropy), 1e-12, "entropy");
            AssertClose.Array(Tensors.ToArray(hiddenA.grad!), Tensors.ToArray(hiddenB.grad!), 1e-12, "d/dhidden");
            AssertClose.Array(Tensors.ToArray(weightA.grad!), Tensors.ToArray(weightB.grad!), 1e-12, "d/dweight");
            return true;
        });

    [Fact]
    public void Hidden_state_path_with_only_log_prob_gradients_matches_the_reference()
    {
        (_, long[] idValues) = RandomInputs(21);
        manual_seed(9);
        // with W = I (H = V) the logits are the hidden states, so the double reference of the logits path applies
        Tensor h = randn(B, T, V, dtype: ScalarType.Float64).requires_grad_(true);
        Tensor w = eye(V, dtype: ScalarType.Float64).requires_grad_(true);
        Tensor ids = tensor(idValues, new long[] { B, T });
        using TokenStatisticsResult result = TokenStatistics.FromHiddenStates(h, w, ids, chunkSize: 4);
        result.LogProbs.sum().backward();
        double[] expected = Reference(Tensors.ToArray(h), idValues, 1.0, Enumerable.Repeat(1.0, B * T).ToArray(), new double[B * T]).Grad;
        AssertClose.Array(expected, Tensors.ToArray(h.grad!), 1e-10);
    }

    [Fact]
    public void Hidden_state_path_rejects_a_projection_of_another_width()
    {
        var ex = Assert.Throws<ArgumentException>(() => TokenStatistics.FromHiddenStates(zeros(2, 3, 8), zeros(50, 7), zeros(2, 3, dtype: ScalarType.Int64)));
        Assert.Contains("outputWeight has shape [50, 7] but hidden has shape [2, 3, 8]", ex.Message);
    }

    [Fact]
    public void Hidden_state_path_rejects_a_zero_chunk() =>
        Assert.Equal("chunkSize", Assert.Throws<ArgumentOutOfRangeException>(() => TokenStatistics.FromHiddenStates(zeros(1, 1, 2), zeros(3, 2), zeros(1, 1, dtype: ScalarType.Int64), 0)).ParamName);

    [Fact]
    public void Token_ids_of_another_shape_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => TokenStatistics.Compute(zeros(2, 4, 7), zeros(2, 5, dtype: ScalarType.Int64)));
        Assert.Contains("tokenIds has shape [2, 5] but logits has shape [2, 4, 7]", ex.Message);
    }

    [Fact]
    public void Float_token_ids_are_rejected() =>
        Assert.Equal("tokenIds", Assert.Throws<ArgumentException>(() => TokenStatistics.LogProbs(zeros(2, 4, 7), zeros(2, 4))).ParamName);

    [Fact]
    public void Two_dimensional_logits_are_rejected() =>
        Assert.Contains("(B, T, V)", Assert.Throws<ArgumentException>(() => TokenStatistics.Entropy(zeros(2, 4))).Message);

    [Fact]
    public void Negative_chunk_size_is_rejected() =>
        Assert.Equal("chunkSize", Assert.Throws<ArgumentOutOfRangeException>(() => TokenStatistics.Compute(zeros(1, 1, 2), zeros(1, 1, dtype: ScalarType.Int64), -1)).ParamName);

    [Fact]
    public void Zero_temperature_is_rejected() =>
        Assert.Equal("temperature", Assert.Throws<ArgumentOutOfRangeException>(() => TokenStatistics.LogProbs(zeros(1, 1, 2), zeros(1, 1, dtype: ScalarType.Int64), 0)).ParamName);

    private static TrainingBatch SmallBatch() => new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [2], MaxResponseLength = 5 }).Build(
    [
        new PromptInput(1, [5, 6, 7], [SampleInput.OnPolicy([8, 9, 2], reward: 1), SampleInput.FullTrace(new OffPolicyTrace([10, 11]), reward: 0)]),
        new PromptInput(2, [4], [SampleInput.OnPolicy([3, 3, 3, 3, 2], reward: 0)]),
    ]);

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void Response_statistics_take_position_P_minus_1_plus_t_for_response_token_t(int chunkSize)
    {
        using TrainingBatch batch = SmallBatch();
        manual_seed(3);
        Tensor logits = randn(batch.Count, batch.PromptLength + batch.ResponseLength, 16, dtype: ScalarType.Float64);
        using TokenStatisticsResult aligned = TokenStatistics.ForResponses(logits, batch, chunkSize);
        double[,] lp = Tensors.ToMatrix(aligned.LogProbs);
        long[] ids = batch.InputIds.data<long>().ToArray();
        int width = batch.PromptLength + batch.ResponseLength;
        for (int i = 0; i < batch.Count; i++)
        {
            for (int t = 0; t < batch.ResponseLength; t++)
            {
                int position = batch.PromptLength - 1 + t;
                double[] z = Tensors.ToArray(logits[i, position]);
                double logSumExp = Math.Log(z.Sum(Math.Exp));
                Assert.Equal(z[ids[i * width + batch.PromptLength + t]] - logSumExp, lp[i, t], 12);
            }
        }
    }

    [Fact]
    public void Hidden_state_response_statistics_equal_the_logits_path()
    {
        using TrainingBatch batch = SmallBatch();
        manual_seed(4);
        Tensor hidden = randn(batch.Count, batch.PromptLength + batch.ResponseLength, 8, dtype: ScalarType.Float64);
        Tensor weight = randn(16, 8, dtype: ScalarType.Float64);
        using TokenStatisticsResult fromHidden = TokenStatistics.FromHiddenStatesForResponses(hidden, weight, batch, chunkSize: 3);
        using TokenStatisticsResult fromLogits = TokenStatistics.ForResponses(hidden.matmul(weight.t()), batch);
        AssertClose.Array(Tensors.ToArray(fromLogits.LogProbs), Tensors.ToArray(fromHidden.LogProbs), 1e-12, "log-probs");
        AssertClose.Array(Tensors.ToArray(fromLogits.Entropy), Tensors.ToArray(fromHidden.Entropy), 1e-12, "entropy");
    }

    [Fact]
    public void Half_precision_logits_give_float32_statistics()
    {
        using TrainingBatch batch = SmallBatch();
        Tensor logits = randn(batch.Count, batch.PromptLength + batch.ResponseLength, 16).to_type(ScalarType.BFloat16);
        using TokenStatisticsResult result = TokenStatistics.ForResponses(logits, batch);
        Assert.Equal(ScalarType.Float32, result.LogProbs.dtype);
        using TokenStatisticsResult kept = TokenStatistics.ForResponses(logits, batch, upcast: false);
        Assert.Equal(ScalarType.BFloat16, kept.LogProbs.dtype);
    }

    [Fact]
    public void Logits_that_do_not_cover_the_batch_are_rejected()
    {
        using TrainingBatch batch = SmallBatch();
        var ex = Assert.Throws<ArgumentException>(() => TokenStatistics.ForResponses(zeros(3, 7, 16), batch));
        Assert.Contains("logits has shape [3, 7, 16] but the batch has B = 3 sequences of P + T = 3 + 5 = 8 tokens", ex.Message);
    }

    [Fact]
    public void A_token_id_outside_the_vocabulary_is_named_with_its_position()
    {
        // it used to reach libtorch's gather and come back as a C++ stack
        Tensor ids = tensor(new long[,] { { 1, 2, 3 }, { 4, 16, 0 } });
        var ex = Assert.Throws<ArgumentException>(() => TokenStatistics.Compute(zeros(2, 3, 16), ids));
        Assert.Contains("tokenIds[1, 1] is 16; token ids must be in [0, 16)", ex.Message);
        Assert.Contains("tokenIds[0, 0] is -1", Assert.Throws<ArgumentException>(() => TokenStatistics.LogProbs(zeros(2, 3, 16), ids * 0 - 1)).Message);
        Assert.Contains("is 16", Assert.Throws<ArgumentException>(() => TokenStatistics.FromHiddenStates(zeros(2, 3, 4), zeros(16, 4), ids)).Message);
    }

    [Fact]
    public void A_disposed_result_throws_object_disposed()
    {
        TokenStatisticsResult result = TokenStatistics.Compute(zeros(1, 2, 4), zeros(1, 2, dtype: ScalarType.Int64));
        result.Dispose();
        Assert.Throws<ObjectDisposedException>(() => result.LogProbs);
        Assert.Throws<ObjectDisposedException>(() => result.Entropy);
    }

    [Theory]
    [InlineData(LossKernel.Fused)]
    [InlineData(LossKernel.Composed)]
    public void From_a_batch_built_with_the_vocabulary_to_the_loss_nothing_is_read_from_the_device(LossKernel kernel)
    {
        // the ids were checked when the batch was built: the statistics no longer read their min/max (a sync per
        // micro-batch on CUDA), and the loss never reads anything
        using TrainingBatch batch = new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [2], MaxResponseLength = 5, VocabularySize = 16 }).Build(
        [
            new PromptInput(1, [5, 6, 7], [SampleInput.OnPolicy([8, 9, 2], reward: 1), SampleInput.FullTrace(new OffPolicyTrace([10, 11]), reward: 0)]),
        ]);
        manual_seed(5);
        Tensor hidden = randn(batch.Count, batch.PromptLength + batch.ResponseLength, 8).requires_grad_();
        Tensor weight = randn(16, 8).requires_grad_();
        long before = HostTransfer.Reads;
        using TokenStatisticsResult plain = TokenStatistics.ForResponses(hidden.matmul(weight.t()), batch);
        using TokenStatisticsResult chunked = TokenStatistics.ForResponses(hidden.matmul(weight.t()), batch, chunkSize: 2);
        using TokenStatisticsResult projected = TokenStatistics.FromHiddenStatesForResponses(hidden, weight, batch, chunkSize: 2);
        using PolicyLossResult loss = new MixedPolicyLoss(PolicyLossOptions.LuffyMainRun with { Kernel = kernel }).Compute(new PolicyLossInputs
        {
            LogProbs = projected.LogProbs, OldLogProbs = projected.LogProbs.detach(), Advantages = ones(batch.Count, batch.ResponseLength),
            ResponseMask = batch.ResponseMask, OffPolicyMask = batch.OffPolicyMask, Entropy = projected.Entropy,
        });
        loss.Loss.backward();
        Assert.Equal(before, HostTransfer.Reads);

        // without the builder's vocabulary the ids are checked: one read
        using TrainingBatch plainBatch = SmallBatch();
        using TokenStatisticsResult checkedStatistics = TokenStatistics.ForResponses(randn(plainBatch.Count, plainBatch.PromptLength + plainBatch.ResponseLength, 16), plainBatch);
        Assert.Equal(before + 1, HostTransfer.Reads);
    }
}
