using System.Text.Json;
using Luffy.Trainer.Model;
using TorchSharp;
using TorchSharp.Modules;

namespace Luffy.Trainer.Training;

/// <summary>What a checkpoint remembers besides the weights and the optimizer state.</summary>
public sealed record CheckpointState(int Step, string Mode, int Seed, string Fingerprint, List<EvalPoint> History, List<StepRecord> Steps);

/// <summary>
/// Checkpoints written atomically: everything goes to a temporary folder, which then replaces the previous
/// checkpoint by a rename, so a crash never leaves a half-written checkpoint behind. A model with a NaN/Inf
/// parameter is never written.
/// </summary>
public static class Checkpoint
{
    private const string ModelFile = "model.bin", OptimizerFile = "optimizer.bin", StateFile = "state.json";

    public static void Save(string directory, CausalLanguageModel model, OptimizerHelper optimizer, CheckpointState state)
    {
        foreach ((string name, Parameter p) in model.named_parameters())
        {
            if (!p.isfinite().all().item<bool>())
            {
                throw new InvalidOperationException($"parameter {name} holds NaN/Inf; the checkpoint is not written.");
            }
        }
        string temporary = directory + ".tmp";
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }
        Directory.CreateDirectory(temporary);
        model.save(Path.Combine(temporary, ModelFile));
        optimizer.save_state_dict(Path.Combine(temporary, OptimizerFile));
        File.WriteAllText(Path.Combine(temporary, StateFile), JsonSerializer.Serialize(state, TrainerOptions.JsonOptions));
        AtomicDirectory.Replace(temporary, directory);
    }

    public static bool Exists(string directory) => File.Exists(Path.Combine(directory, StateFile));

    /// <summary>Loads a checkpoint into the model and optimizer; a missing or corrupt file gives an error naming it.</summary>
    public static CheckpointState Load(string directory, CausalLanguageModel model, OptimizerHelper optimizer, string expectedFingerprint)
    {
        string statePath = Path.Combine(directory, StateFile);
        string modelPath = Path.Combine(directory, ModelFile);
        string optimizerPath = Path.Combine(directory, OptimizerFile);
        foreach (string path in new[] { statePath, modelPath, optimizerPath })
        {
            if (!File.Exists(path))
            {
                throw new CheckpointException(path, "is missing; the checkpoint is incomplete");
            }
        }
        CheckpointState state;
        try
        {
            state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath), TrainerOptions.JsonOptions)
                ?? throw new CheckpointException(statePath, "is empty");
        }
        catch (JsonException ex)
        {
            throw new CheckpointException(statePath, $"is corrupt ({ex.Message})");
        }
        if (state.Fingerprint != expectedFingerprint)
        {
            throw new CheckpointException(statePath, "was written with other model or task settings; resume with the same options or use another --output");
        }
        try
        {
            model.load(modelPath);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new CheckpointException(modelPath, $"is corrupt or does not match the model ({ex.Message})");
        }
        try
        {
            optimizer.load_state_dict(optimizerPath);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new CheckpointException(optimizerPath, $"is corrupt or does not match the optimizer ({ex.Message})");
        }
        return state;
    }
}

/// <summary>A checkpoint that cannot be used; names the file.</summary>
public sealed class CheckpointException(string path, string problem) : Exception($"checkpoint file {path} {problem}.")
{
    public string Path { get; } = path;
}
