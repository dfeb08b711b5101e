using System.Text.Json;
using System.Text.Json.Nodes;
using Luffy.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class CheckpointTests
{
    private sealed class SimulatedCrash(Checkpoint.Stage stage) : Exception($"crash at {stage}");

    private static string CommittedFile(TrainingRun run, string file) => Path.Combine(Checkpoint.CommittedFolder(run.Directory)!, file);

    /// <summary>A run saved at step 1, closed; returns its folder.</summary>
    private static string SavedRun(TinySetup setup)
    {
        using TrainingRun run = setup.NewRun(TrainingMethod.Luffy);
        run.RunStep();
        run.SaveCheckpoint();
        return run.Directory;
    }

    /// <summary>Rewrites the manifest and the pointer after a test changed a file on purpose, so only the content check can catch it.</summary>
    private static void Reseal(string runDirectory, int? step = null)
    {
        string folder = Checkpoint.CommittedFolder(runDirectory)!;
        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(Path.Combine(folder, "state.json")), TrainerOptions.JsonOptions)!;
        Checkpoint.Seal(runDirectory, folder, step ?? state.Step, state.Fingerprint);
    }

    [Theory]
    [InlineData(Checkpoint.Stage.Model)]
    [InlineData(Checkpoint.Stage.Optimizer)]
    [InlineData(Checkpoint.Stage.State)]
    [InlineData(Checkpoint.Stage.Manifest)]
    [InlineData(Checkpoint.Stage.FolderRenamed)]
    [InlineData(Checkpoint.Stage.PointerWritten)]
    [InlineData(Checkpoint.Stage.Committed)]
    [InlineData(Checkpoint.Stage.OldRemoved)]
    public void A_crash_at_any_stage_of_a_save_resumes_from_the_last_complete_checkpoint(Checkpoint.Stage stage)
    {
        Assert.Equal(8, Enum.GetValues<Checkpoint.Stage>().Length); // a new stage needs its row here
        using var setup = new TinySetup();
        double[] reference;
        using (TrainingRun uninterrupted = setup.NewRun(TrainingMethod.Luffy)) // steps alone write nothing into the run folder
        {
            reference = [.. Enumerable.Range(0, 4).Select(_ => uninterrupted.RunStep().Loss)];
        }
        using (TrainingRun crashing = setup.NewRun(TrainingMethod.Luffy))
        {
            crashing.RunStep();
            crashing.RunStep();
            crashing.SaveCheckpoint(); // the last complete checkpoint: step 2
            crashing.RunStep();
            Checkpoint.FaultInjection = s =>
            {
                if (s == stage)
                {
                    throw new SimulatedCrash(s);
                }
            };
            try
            {
                Assert.Throws<SimulatedCrash>(crashing.SaveCheckpoint);
            }
            finally
            {
                Checkpoint.FaultInjection = null;
            }
        }
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        Assert.True(resumed.TryResume());
        int expectedStep = stage >= Checkpoint.Stage.Committed ? 3 : 2; // the rename of the pointer is the commit
        Assert.Equal(expectedStep, resumed.Step);
        Assert.Equal(reference[expectedStep], resumed.RunStep().Loss); // bit for bit: the next step of the uninterrupted run
        resumed.SaveCheckpoint();
        Assert.Single(Directory.GetFileSystemEntries(Path.Combine(resumed.Directory, Checkpoint.Folders))); // leftovers of the crash are gone
        Assert.False(File.Exists(Path.Combine(resumed.Directory, Checkpoint.PointerFile + ".tmp")));
    }

    [Fact]
    public void A_write_failure_such_as_a_full_disk_keeps_the_last_complete_checkpoint_and_says_so()
    {
        using var setup = new TinySetup();
        using TrainingRun run = setup.NewRun(TrainingMethod.Luffy);
        run.RunStep();
        run.SaveCheckpoint();
        string committed = Checkpoint.CommittedFolder(run.Directory)!;
        run.RunStep();
        Checkpoint.FaultInjection = s =>
        {
            if (s == Checkpoint.Stage.Optimizer)
            {
                throw new IOException("No space left on device");
            }
        };
        try
        {
            var ex = Assert.Throws<IOException>(run.SaveCheckpoint);
            Assert.Contains("writing the checkpoint of step 2", ex.Message);
            Assert.Contains("No space left on device", ex.Message);
            Assert.Contains("the last complete checkpoint is kept", ex.Message);
        }
        finally
        {
            Checkpoint.FaultInjection = null;
        }
        Assert.Equal(committed, Checkpoint.CommittedFolder(run.Directory));
        Assert.Equal([committed], Directory.GetDirectories(Path.Combine(run.Directory, Checkpoint.Folders))); // the partial folder is removed
    }

    [Fact]
    public void A_crash_during_the_first_save_leaves_nothing_to_resume_and_says_so()
    {
        using var setup = new TinySetup();
        using (TrainingRun run = setup.NewRun(TrainingMethod.Luffy))
        {
            run.RunStep();
            Checkpoint.FaultInjection = s => throw new SimulatedCrash(s);
            try
            {
                Assert.Throws<SimulatedCrash>(run.SaveCheckpoint);
            }
            finally
            {
                Checkpoint.FaultInjection = null;
            }
        }
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains("interrupted before it was committed", ex.Message);
        Assert.Contains(Path.Combine(resumed.Directory, Checkpoint.Folders), ex.Message);
    }

    [Fact]
    public void A_run_folder_without_any_checkpoint_data_has_nothing_to_resume()
    {
        using var setup = new TinySetup();
        using TrainingRun run = setup.NewRun(TrainingMethod.Luffy);
        Assert.False(run.TryResume());
        Assert.Equal(0, run.Step);
    }

    [Fact]
    public void A_truncated_file_is_named_and_left_as_it_is()
    {
        using var setup = new TinySetup();
        string runDirectory = SavedRun(setup);
        string model = Path.Combine(Checkpoint.CommittedFolder(runDirectory)!, "model.bin");
        File.WriteAllBytes(model, [1, 2, 3]);
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains(model, ex.Message);
        Assert.Contains("has 3 bytes", ex.Message);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(model));
    }

    [Theory]
    [InlineData("model.bin")]
    [InlineData("optimizer.bin")]
    [InlineData("state.json")]
    public void A_flipped_byte_of_the_same_size_fails_the_checksum_and_is_named(string file)
    {
        using var setup = new TinySetup();
        string runDirectory = SavedRun(setup);
        string path = Path.Combine(Checkpoint.CommittedFolder(runDirectory)!, file);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains(path, ex.Message);
        Assert.Contains("SHA-256", ex.Message);
    }

    [Fact]
    public void A_changed_manifest_is_caught_by_the_pointer_checksum()
    {
        using var setup = new TinySetup();
        string runDirectory = SavedRun(setup);
        string manifest = Path.Combine(Checkpoint.CommittedFolder(runDirectory)!, "manifest.json");
        File.AppendAllText(manifest, " ");
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains(manifest, ex.Message);
    }

    [Fact]
    public void A_corrupt_pointer_is_named()
    {
        using var setup = new TinySetup();
        string runDirectory = SavedRun(setup);
        string pointer = Path.Combine(runDirectory, Checkpoint.PointerFile);
        File.WriteAllText(pointer, "{ \"folder\": ");
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains(pointer, ex.Message);
    }

    [Fact]
    public void Nan_weights_in_a_checkpoint_with_a_valid_manifest_are_refused_naming_the_file_and_parameter()
    {
        using var setup = new TinySetup();
        string runDirectory;
        using (TrainingRun run = setup.NewRun(TrainingMethod.Luffy))
        {
            run.RunStep();
            run.SaveCheckpoint();
            runDirectory = run.Directory;
            using (no_grad())
            {
                run.Model.parameters().First().view(-1)[0].fill_(double.NaN);
            }
            run.Model.save(CommittedFile(run, "model.bin"));
        }
        Reseal(runDirectory);
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains(Path.Combine(Checkpoint.CommittedFolder(runDirectory)!, "model.bin"), ex.Message);
        Assert.Contains("NaN/Inf in parameter", ex.Message);
    }

    [Fact]
    public void Nan_optimizer_moments_in_a_checkpoint_with_a_valid_manifest_are_refused_naming_the_file()
    {
        using var setup = new TinySetup();
        string runDirectory = SavedRun(setup);
        string optimizerFile = Path.Combine(Checkpoint.CommittedFolder(runDirectory)!, "optimizer.bin");
        using (TrainingRun donor = setup.NewRun(TrainingMethod.Luffy))
        {
            // an AdamW over the same parameters whose moments are NaN: one step on NaN gradients
            using var adam = optim.AdamW(donor.Model.parameters(), 1e-3);
            foreach (var p in donor.Model.parameters())
            {
                p.grad = full_like(p, double.NaN);
            }
            adam.step();
            adam.save_state_dict(optimizerFile);
        }
        Reseal(runDirectory);
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains(optimizerFile, ex.Message);
        Assert.Contains("NaN/Inf", ex.Message);
    }

    [Theory]
    [InlineData(-5, "has step -5; a step count is >= 0")]
    [InlineData(7, "has step 7 but its manifest was written at step 1")]
    public void Out_of_range_state_is_refused_naming_the_file(int step, string message)
    {
        using var setup = new TinySetup();
        string runDirectory = SavedRun(setup);
        string statePath = Path.Combine(Checkpoint.CommittedFolder(runDirectory)!, "state.json");
        JsonObject state = JsonNode.Parse(File.ReadAllText(statePath))!.AsObject();
        state["step"] = step;
        File.WriteAllText(statePath, state.ToJsonString());
        Reseal(runDirectory, step < 0 ? step : 1);
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains(statePath, ex.Message);
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void A_checkpoint_of_other_settings_is_refused()
    {
        using var setup = new TinySetup();
        SavedRun(setup);
        setup.Options = setup.Options with { SamplesPerPrompt = 4 };
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains("other model or task settings", ex.Message);
    }

    [Theory]
    [InlineData(5e-3, 0.01)]
    [InlineData(1e-2, 0.2)]
    public void A_checkpoint_of_another_learning_rate_or_gamma_is_refused(double learningRate, double gamma)
    {
        using var setup = new TinySetup(); // learning rate 1e-2, gamma 0.01 (the defaults')
        setup.Options = setup.Options with { Gamma = 0.01 };
        SavedRun(setup);
        setup.Options = setup.Options with { LearningRate = learningRate, Gamma = gamma };
        using TrainingRun resumed = setup.NewRun(TrainingMethod.Luffy);
        var ex = Assert.Throws<CheckpointException>(() => resumed.TryResume());
        Assert.Contains("other model or task settings", ex.Message);
    }

    [Fact]
    public void Nan_weights_are_never_written()
    {
        using var setup = new TinySetup();
        using TrainingRun run = setup.NewRun(TrainingMethod.Luffy);
        run.RunStep();
        run.SaveCheckpoint();
        string committed = Checkpoint.CommittedFolder(run.Directory)!;
        using (no_grad())
        {
            run.Model.parameters().First().view(-1)[0].fill_(double.PositiveInfinity);
        }
        Assert.Throws<InvalidOperationException>(run.SaveCheckpoint);
        Assert.Equal(committed, Checkpoint.CommittedFolder(run.Directory));
    }
}
