using Luffy.Trainer.Training;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class TrainingRunTests
{
    private static double[] Parameters(Luffy.Trainer.Model.CausalLanguageModel model) =>
        model.parameters().SelectMany(p => p.detach().cpu().to_type(ScalarType.Float64).data<double>().ToArray()).ToArray();

    [Theory]
    [InlineData("luffy")]
    [InlineData("grpo")]
    [InlineData("sft")]
    public void A_few_steps_give_finite_losses_and_change_the_parameters(string mode)
    {
        using var setup = new TinySetup();
        using TrainingRun run = setup.NewRun(mode);
        double[] before = Parameters(run.Model);
        for (int i = 0; i < 3; i++)
        {
            StepRecord record = run.RunStep();
            Assert.True(double.IsFinite(record.Loss), $"step {record.Step} loss {record.Loss}");
            Assert.False(record.Skipped);
        }
        double[] after = Parameters(run.Model);
        Assert.Equal(before.Length, after.Length);
        Assert.True(before.Zip(after).Any(p => p.First != p.Second), "no parameter changed");
        Assert.True(File.Exists(Path.Combine(run.Directory, "metrics.jsonl")));
    }

    [Fact]
    public void Luffy_batches_carry_the_trace_and_grpo_batches_do_not()
    {
        using var setup = new TinySetup();
        using TrainingRun luffy = setup.NewRun("luffy");
        using TrainingRun grpo = setup.NewRun("grpo");
        Assert.True(double.IsFinite(luffy.RunStep().TraceReward));      // the trace's verifier reward is logged
        Assert.True(double.IsNaN(grpo.RunStep().TraceReward));          // no trace carriers at all
    }

    [Theory]
    [InlineData("luffy")]
    [InlineData("sft")]
    public void A_resumed_run_reproduces_the_next_step_loss_of_the_uninterrupted_run(string mode)
    {
        using var setup = new TinySetup();
        double expected;
        using (TrainingRun uninterrupted = setup.NewRun(mode))
        {
            uninterrupted.RunStep();
            uninterrupted.RunStep();
            uninterrupted.SaveCheckpoint();
            expected = uninterrupted.RunStep().Loss;
        }
        using TrainingRun resumed = setup.NewRun(mode);
        Assert.True(resumed.TryResume());
        Assert.Equal(2, resumed.Step);
        double actual = resumed.RunStep().Loss;
        Assert.Equal(expected, actual, 6);
    }

    [Fact]
    public void A_checkpoint_round_trips_the_weights()
    {
        using var setup = new TinySetup();
        double[] saved;
        using (TrainingRun run = setup.NewRun("luffy"))
        {
            run.RunStep();
            run.SaveCheckpoint();
            saved = Parameters(run.Model);
        }
        using TrainingRun loaded = setup.NewRun("luffy");
        Assert.True(loaded.TryResume());
        Assert.Equal(saved, Parameters(loaded.Model));
    }

    [Fact]
    public void A_corrupt_checkpoint_gives_an_error_naming_the_file_and_is_not_overwritten()
    {
        using var setup = new TinySetup();
        string modelFile;
        using (TrainingRun run = setup.NewRun("luffy"))
        {
            run.RunStep();
            run.SaveCheckpoint();
            modelFile = Path.Combine(run.Directory, "checkpoint", "model.bin");
        }
        File.WriteAllBytes(modelFile, [1, 2, 3]);
        using TrainingRun resumed = setup.NewRun("luffy");
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains(modelFile, ex.Message);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(modelFile));
    }

    [Fact]
    public void Evaluation_reports_accuracy_per_split_and_level()
    {
        using var setup = new TinySetup();
        using TrainingRun run = setup.NewRun("grpo");
        EvalPoint point = run.Evaluate();
        Assert.InRange(point.InDistribution, 0, 1);
        Assert.InRange(point.OutOfDistribution, 0, 1);
        Assert.Equal(new[] { 2, 3, 4, 5, 6 }, point.ByLevel.Keys.Order());
    }
}
