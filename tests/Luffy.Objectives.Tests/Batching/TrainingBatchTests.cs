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
}
