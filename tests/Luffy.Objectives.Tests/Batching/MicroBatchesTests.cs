namespace Luffy.Objectives.Tests.Batching;

public class MicroBatchesTests
{
    private const int Eos = 2;

    private static TrainingBatch Build() => new MixedBatchBuilder(new BatchBuilderOptions { EosTokenIds = [Eos], MaxResponseLength = 4 }).Build(
    [
        new PromptInput(1, [5], [SampleInput.OnPolicy([10, Eos], reward: 0), SampleInput.OnPolicy([11, Eos], reward: 1), SampleInput.OnPolicy([12, Eos], reward: 1)]),
    ]);

    [Fact]
    public void Disposing_the_set_disposes_every_micro_batch_and_a_second_time_is_harmless()
    {
        using TrainingBatch batch = Build();
        MicroBatches parts = MicroBatcher.ByCount(batch, 2);
        Assert.Equal(2, parts.Count);
        Assert.Equal(new[] { 0, 2 }, parts.Select(m => m.Rows[0]));
        parts[0].Dispose(); // freed early inside a loop: allowed
        parts.Dispose();
        Assert.All(parts, m => Assert.Throws<ObjectDisposedException>(() => m.Batch.InputIds));
        parts.Dispose();
        Assert.Equal(3, batch.Count); // the full batch is the caller's
    }

    [Fact]
    public void Token_budget_micro_batches_are_a_set_as_well()
    {
        using TrainingBatch batch = Build();
        using MicroBatches parts = MicroBatcher.ByTokenBudget(batch, 6);
        Assert.Equal(batch.Count, parts.Sum(m => m.Count));
    }
}
