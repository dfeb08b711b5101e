namespace Luffy.Objectives.Tests.Batching;

public class TrainingBatchTests
{
    private const int Eos = 2;

    private static TrainingBatch Build() => new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [Eos], MaxResponseLength = 5 }).Build(
    [
        new PromptInput(1, [5], [
            SampleInput.OnPolicy([10, Eos], [-1f, -0.5f], reward: 0),
            SampleInput.FullTrace(new OffPolicyTrace([20, 21], [-0.5f, -2f]), reward: 1),
            SampleInput.PrefixContinuation(new OffPolicyTrace([20, 21, 22]), 1, [13, Eos], [-0.3f, -0.1f], reward: 0),
        ]),
    ]);

    [Fact]
    public void Trace_probabilities_are_the_behaviour_probabilities_and_one_where_unknown()
    {
        using TrainingBatch batch = Build();
        using Tensor q = batch.TraceProbabilities();
        // T = 3. Row 1: exp(-0.5), exp(-2), then the appended EOS has none; row 2's trace gave no log-probs
        AssertClose.Array([1, 1, 1, Math.Exp(-0.5), Math.Exp(-2), 1, 1, 1, 1], Tensors.ToArray(q), 1e-6, "q"); // float32
    }

    [Fact]
    public void Trace_log_probs_are_the_behaviour_log_probs_and_zero_where_unknown()
    {
        using TrainingBatch batch = Build();
        using Tensor stored = batch.TraceLogProbs();
        // the log of TraceProbabilities: row 1 -0.5, -2, then the appended EOS has none (0); the sampler's log-probs of row 0 are not trace log-probs
        Assert.Equal(new float[] { 0, 0, 0, -0.5f, -2, 0, 0, 0, 0 }, stored.data<float>().ToArray());
    }

    [Fact]
    public void The_rollout_correction_mask_is_the_generated_tokens_with_a_log_prob()
    {
        using TrainingBatch batch = Build();
        using Tensor mask = batch.RolloutCorrectionMask();
        Assert.Equal(new[] { true, true, false, false, false, false, false, true, true }, mask.data<bool>().ToArray());
    }

    [Fact]
    public void The_reward_batch_owns_nothing_the_caller_must_dispose()
    {
        using TrainingBatch batch = Build();
        RewardBatch first = batch.ToRewardBatch();
        Assert.Same(first.IsOffPolicy, batch.ToRewardBatch().IsOffPolicy); // created once, disposed with the batch
        Assert.Equal(new[] { false, true, true }, first.IsOffPolicy!.data<bool>().ToArray());
    }

    [Fact]
    public void A_disposed_batch_throws_object_disposed_wherever_it_is_used()
    {
        // each of these gave libtorch's "Tensor invalid -- empty handle"
        TrainingBatch batch = Build();
        batch.Dispose();
        Assert.Throws<ObjectDisposedException>(() => batch.InputIds);
        Assert.Throws<ObjectDisposedException>(() => batch.Count);
        Assert.Throws<ObjectDisposedException>(() => batch.ToRewardBatch());
        Assert.Throws<ObjectDisposedException>(() => MicroBatcher.ByCount(batch, 2));
        var ex = Assert.Throws<ObjectDisposedException>(() => TokenStatistics.ForResponses(zeros(3, 6, 30), batch));
        Assert.Contains(nameof(TrainingBatch), ex.ObjectName);
        batch.Dispose(); // idempotent
    }

    public static TheoryData<string> BadIndices() => ["3", "-1", "float", "2-D"];

    [Theory]
    [MemberData(nameof(BadIndices))]
    public void Select_names_bad_indices(string which)
    {
        using TrainingBatch batch = Build();
        Tensor indices = which switch
        {
            "3" => tensor(new long[] { 0, 3 }),
            "-1" => tensor(new long[] { -1 }),
            "float" => tensor(new[] { 0.0, 1.0 }),
            _ => tensor(new long[,] { { 0, 1 } }),
        };
        var ex = Assert.Throws<ArgumentException>(() => batch.Select(indices));
        Assert.Equal("indices", ex.ParamName);
    }

    [Fact]
    public void Select_takes_int32_indices()
    {
        using TrainingBatch batch = Build();
        using TrainingBatch selected = batch.Select(tensor(new[] { 2, 0 }));
        Assert.Equal(new long[] { 2, 0 }, selected.SampleKinds.data<long>().ToArray());
    }
}
