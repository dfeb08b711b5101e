using System.Text.Json;
using System.Text.Json.Nodes;
using Luffy.Trainer.Training;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class SingleRunTests
{
    private static RunSummary Run(TinySetup setup, TrainerOptions options, CancellationToken cancel = default) =>
        SingleRun.Run(options, TrainingMethod.Luffy, 1, new ArithmeticTask(options, setup.Data), setup.BaseModel.Copy(), CPU, cancel, progressUi: false);

    private static JsonObject[] Records(string runDirectory) =>
        [.. File.ReadAllLines(Path.Combine(runDirectory, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject())];

    private static string RunDirectory(TinySetup setup) => Path.Combine(setup.Options.Output, "luffy-seed1");

    [Fact]
    public void Metrics_hold_one_record_per_step_with_the_evaluation_as_fields_of_its_step()
    {
        using var setup = new TinySetup(); // 4 steps, evaluation every 2
        RunSummary summary = Run(setup, setup.Options);
        Assert.False(summary.Cancelled);
        JsonObject[] records = Records(RunDirectory(setup));
        Assert.Equal([0, 1, 2, 3, 4], records.Select(r => (int)r["step"]!));
        Assert.Equal([true, false, true, false, true], records.Select(r => r["evaluation"] is JsonObject));
        Assert.All(records.Skip(1), r => Assert.NotEqual(0.0, (double)r["learning-rate"]!));
        Assert.All(records.Skip(1), r => Assert.Equal("luffy", (string)r["phase"]!));
        Assert.Contains("accuracy/in-distribution", records[2]["evaluation"]!.AsObject().Select(p => p.Key));
        Assert.Equal([0, 2, 4], summary.History.Select(h => h.Step));
        Assert.Equal("level (operands)", summary.LevelLabel);
    }

    [Fact]
    public void A_resumed_run_continues_the_metrics_without_repeating_a_step()
    {
        using var setup = new TinySetup();
        Run(setup, setup.Options with { Steps = 2 });
        Run(setup, setup.Options with { Steps = 4, Resume = true });
        Assert.Equal([0, 1, 2, 3, 4], Records(RunDirectory(setup)).Select(r => (int)r["step"]!));
    }

    [Fact]
    public void Resume_without_a_checkpoint_is_an_error_that_says_there_is_nothing_to_resume()
    {
        using var setup = new TinySetup();
        var ex = Assert.Throws<CheckpointException>(() => Run(setup, setup.Options with { Resume = true }));
        Assert.Contains("there is no checkpoint to resume", ex.Message);
        Assert.Contains(Path.Combine(RunDirectory(setup), Checkpoint.PointerFile), ex.Message);
    }

    [Fact]
    public void A_finished_run_is_not_overwritten_by_a_new_run_without_resume()
    {
        using var setup = new TinySetup();
        Run(setup, setup.Options);
        string pointer = Path.Combine(RunDirectory(setup), Checkpoint.PointerFile);
        string committed = File.ReadAllText(pointer);
        string metrics = File.ReadAllText(Path.Combine(RunDirectory(setup), "metrics.jsonl"));
        var ex = Assert.Throws<CheckpointException>(() => Run(setup, setup.Options));
        Assert.Contains("--resume", ex.Message);
        Assert.Equal(committed, File.ReadAllText(pointer));
        Assert.Equal(metrics, File.ReadAllText(Path.Combine(RunDirectory(setup), "metrics.jsonl")));
    }

    [Fact]
    public void Resume_of_a_folder_whose_only_checkpoint_was_never_committed_refuses_and_keeps_the_data()
    {
        using var setup = new TinySetup();
        string partial = Path.Combine(RunDirectory(setup), Checkpoint.Folders, "step-000002-0000abcd.partial");
        Directory.CreateDirectory(partial);
        File.WriteAllText(Path.Combine(partial, "model.bin"), "half");
        var ex = Assert.Throws<CheckpointException>(() => Run(setup, setup.Options with { Resume = true }));
        Assert.Contains("interrupted before it was committed", ex.Message);
        Assert.True(File.Exists(Path.Combine(partial, "model.bin")));
    }

    [Fact]
    public void A_second_trainer_in_the_same_run_folder_stops_at_once()
    {
        using var setup = new TinySetup();
        using RunLock held = RunLock.Acquire(RunDirectory(setup));
        var ex = Assert.Throws<RunLockedException>(() => Run(setup, setup.Options));
        Assert.Contains(RunDirectory(setup), ex.Message);
        Assert.False(File.Exists(Path.Combine(RunDirectory(setup), "metrics.jsonl")));
    }

    [Fact]
    public void The_lock_is_released_when_the_run_ends()
    {
        using var setup = new TinySetup();
        Run(setup, setup.Options with { Steps = 1 });
        using RunLock again = RunLock.Acquire(RunDirectory(setup));
    }

    [Fact]
    public void Cancellation_before_the_first_step_writes_no_checkpoint()
    {
        using var setup = new TinySetup();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => Run(setup, setup.Options, cancel.Token));
        Assert.Null(Checkpoint.Committed(RunDirectory(setup)));
    }

    [Fact]
    public void Tensorboard_event_files_hold_the_logged_scalars()
    {
        using var setup = new TinySetup();
        Run(setup, setup.Options with { Tensorboard = true, Steps = 2 });
        string[] files = Directory.GetFiles(Path.Combine(RunDirectory(setup), "tensorboard"), "events.out.tfevents.*");
        var scalars = TensorboardEvents.Read(Assert.Single(files));
        JsonObject[] records = Records(RunDirectory(setup));
        foreach (JsonObject record in records.Skip(1))
        {
            int step = (int)record["step"]!;
            Assert.Equal((float)(double)record["loss"]!, scalars[("train/loss", step)]);
            Assert.Equal((float)(double)record["learning-rate"]!, scalars[("train/learning_rate", step)]);
            Assert.Equal((float)(double)record["on-policy-reward"]!, scalars[("train/reward", step)]);
        }
        Assert.Equal((float)(double)records[2]["evaluation"]!["accuracy/in-distribution"]!, scalars[("eval/accuracy/in-distribution", 2)]);
        Assert.True(scalars.ContainsKey(("eval/process-validity", 0)));
    }

    [Fact]
    public void An_exgrpo_run_logs_its_buffer_per_step_in_metrics_and_tensorboard_and_other_methods_do_not()
    {
        static string RunMethod(TinySetup setup, TrainingMethod method)
        {
            TrainerOptions options = setup.Options with { Mode = method.Name, Tensorboard = true, Steps = 2 };
            SingleRun.Run(options, method, 1, new ArithmeticTask(options, setup.Data), setup.BaseModel.Copy(), CPU, default, progressUi: false);
            return Path.Combine(options.Output, $"{method.Name}-seed1");
        }
        using var setup = new TinySetup("exgrpo");
        string folder = RunMethod(setup, TrainingMethod.ExGrpo);
        var scalars = TensorboardEvents.Read(Assert.Single(Directory.GetFiles(Path.Combine(folder, "tensorboard"), "events.out.tfevents.*")));
        foreach (JsonObject record in Records(folder).Skip(1))
        {
            int step = (int)record["step"]!;
            Assert.Equal((float)(int)record["experience-questions"]!, scalars[("experience/questions", step)]);
            Assert.Equal((float)(int)record["retired-questions"]!, scalars[("experience/retired", step)]);
            Assert.Equal((float)(double)record["replay-share"]!, scalars[("experience/replay_share", step)]);
            Assert.Equal(2, record["experience-buckets"]!.AsArray().Count); // k = 1..G − 1 with G = 3
            Assert.True(scalars.ContainsKey(("experience/bucket_2", step)));
        }

        using var other = new TinySetup("grpo");
        string grpo = RunMethod(other, TrainingMethod.Grpo);
        var grpoScalars = TensorboardEvents.Read(Assert.Single(Directory.GetFiles(Path.Combine(grpo, "tensorboard"), "events.out.tfevents.*")));
        Assert.DoesNotContain(grpoScalars.Keys, k => k.Item1.StartsWith("experience/", StringComparison.Ordinal));
    }
}
