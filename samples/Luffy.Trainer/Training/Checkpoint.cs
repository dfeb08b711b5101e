using System.Security.Cryptography;
using System.Text.Json;
using Luffy.Trainer.Model;
using TorchSharp;
using TorchSharp.Modules;

namespace Luffy.Trainer.Training;

/// <summary>
/// Checkpoints with one commit point. A save writes a new folder under <c>checkpoints/</c> (model, optimizer, state,
/// then a manifest of every file's size and SHA-256, each file flushed to disk), renames it into place, and only then
/// replaces the small pointer file <c>checkpoint.json</c> (written beside, flushed, renamed over the old one: the commit);
/// older folders are deleted afterwards. An interruption at any moment leaves the pointer on a complete checkpoint (the
/// previous one until the commit, the new one after it); leftovers of an interrupted save are removed by the next one.
/// Loading verifies sizes and checksums, refuses NaN/Inf parameters or optimizer moments and out-of-range state, and
/// every error names the file.
/// </summary>
public static class Checkpoint
{
    public const string PointerFile = "checkpoint.json", Folders = "checkpoints";
    private const string ModelFile = "model.bin", OptimizerFile = "optimizer.bin", StateFile = "state.json", ManifestFile = "manifest.json";

    /// <summary>The optional file of a run's experience buffer (ExGRPO), listed in the manifest like the others.</summary>
    public const string ExperienceFile = "experience.bin";

    /// <summary>The files a checkpoint holds besides its manifest, which lists each of them.</summary>
    private static readonly string[] DataFiles = [ModelFile, OptimizerFile, StateFile];

    /// <summary>The stages of a save, in order; a fault-injection hook may stop a save at any of them (tests).</summary>
    public enum Stage
    {
        Model,
        Optimizer,
        State,
        Manifest,
        FolderRenamed,
        PointerWritten,
        Committed,
        OldRemoved,
    }

    private static readonly AsyncLocal<Action<Stage>?> Fault = new();

    /// <summary>Called at each stage of a save; a test throws there to simulate a crash. Null in normal runs; flows with the async context, so one test's hook never reaches another's saves.</summary>
    internal static Action<Stage>? FaultInjection
    {
        get => Fault.Value;
        set => Fault.Value = value;
    }

    /// <summary>Writes a checkpoint of <paramref name="model"/> and <paramref name="optimizer"/> (and, when given, the experience buffer written by <paramref name="experience"/>) into <paramref name="runDirectory"/> and commits it.</summary>
    /// <exception cref="InvalidOperationException">A parameter holds NaN/Inf: nothing is written.</exception>
    /// <exception cref="IOException">Writing failed (a full disk, say): the last complete checkpoint is kept.</exception>
    public static void Save(string runDirectory, CausalLanguageModel model, OptimizerHelper optimizer, CheckpointState state, Action<Stream>? experience = null)
    {
        if (NonFiniteParameter(model) is { } parameter)
        {
            throw new InvalidOperationException($"parameter {parameter} holds NaN/Inf; the checkpoint is not written.");
        }
        string root = Path.Combine(runDirectory, Folders);
        Directory.CreateDirectory(root);
        string name = $"step-{state.Step:D6}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant()}";
        string partial = Path.Combine(root, name + ".partial");
        try
        {
            Directory.CreateDirectory(partial);
            model.save(Path.Combine(partial, ModelFile));
            Flush(Path.Combine(partial, ModelFile));
            FaultInjection?.Invoke(Stage.Model);
            optimizer.save_state_dict(Path.Combine(partial, OptimizerFile));
            Flush(Path.Combine(partial, OptimizerFile));
            FaultInjection?.Invoke(Stage.Optimizer);
            WriteFlushed(Path.Combine(partial, StateFile), JsonSerializer.Serialize(state, TrainerOptions.JsonOptions));
            FaultInjection?.Invoke(Stage.State);
            if (experience is not null)
            {
                using (var stream = new FileStream(Path.Combine(partial, ExperienceFile), FileMode.Create, FileAccess.Write, FileShare.None))
                {
                    experience(stream);
                    stream.Flush(flushToDisk: true);
                }
            }
            WriteManifest(partial, state.Step, state.Fingerprint, experience is not null);
            FaultInjection?.Invoke(Stage.Manifest);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(partial);
            throw new IOException($"writing the checkpoint of step {state.Step} into {partial} failed ({ex.Message}); the last complete checkpoint is kept.", ex);
        }
        string folder = Path.Combine(root, name);
        Directory.Move(partial, folder);
        FlushDirectory(root);
        FaultInjection?.Invoke(Stage.FolderRenamed);

        string pointer = Path.Combine(runDirectory, PointerFile);
        var commit = new CheckpointPointer(Path.Combine(Folders, name), Sha256(Path.Combine(folder, ManifestFile)));
        WriteFlushed(pointer + ".tmp", JsonSerializer.Serialize(commit, TrainerOptions.JsonOptions));
        FaultInjection?.Invoke(Stage.PointerWritten);
        File.Move(pointer + ".tmp", pointer, overwrite: true); // the commit: a rename is atomic
        FlushDirectory(runDirectory);
        FaultInjection?.Invoke(Stage.Committed);
        RemoveAllBut(root, name);
        FaultInjection?.Invoke(Stage.OldRemoved);
    }

    /// <summary>The committed checkpoint of a run folder, or <see langword="null"/> when there is none (no pointer file).</summary>
    public static CheckpointPointer? Committed(string runDirectory)
    {
        string pointer = Path.Combine(runDirectory, PointerFile);
        if (!File.Exists(pointer))
        {
            return null;
        }
        CheckpointPointer commit = ReadJson<CheckpointPointer>(pointer);
        if (string.IsNullOrEmpty(commit.Folder) || Path.IsPathRooted(commit.Folder) || commit.Folder.Contains("..", StringComparison.Ordinal) || string.IsNullOrEmpty(commit.ManifestSha256))
        {
            throw new CheckpointException(pointer, $"names no checkpoint folder of this run ({commit.Folder})");
        }
        return commit;
    }

    /// <summary>A checkpoint's JSON file; a file that is empty or not the expected JSON is named.</summary>
    private static T ReadJson<T>(string path)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), TrainerOptions.JsonOptions) ?? throw new CheckpointException(path, "is empty");
        }
        catch (JsonException ex)
        {
            throw new CheckpointException(path, $"is corrupt ({ex.Message})");
        }
    }

    /// <summary>Whether a run folder holds checkpoint data that was never committed (an interrupted first save).</summary>
    public static bool HasUncommittedData(string runDirectory) =>
        Directory.Exists(Path.Combine(runDirectory, Folders)) && Directory.EnumerateFileSystemEntries(Path.Combine(runDirectory, Folders)).Any();

    /// <summary>
    /// Loads the committed checkpoint into the model and optimizer after verifying every file against the manifest;
    /// returns its state. Every problem names the file.
    /// </summary>
    /// <exception cref="CheckpointException">The checkpoint is missing, incomplete, changed, corrupt, holds NaN/Inf or out-of-range values, or belongs to other settings.</exception>
    public static CheckpointState Load(string runDirectory, CausalLanguageModel model, OptimizerHelper optimizer, string expectedFingerprint, string mode, int seed)
    {
        CheckpointPointer commit = Committed(runDirectory) ?? throw new CheckpointException(Path.Combine(runDirectory, PointerFile), "is missing: there is no complete checkpoint to resume");
        string folder = Path.Combine(runDirectory, commit.Folder);
        string manifestPath = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifestPath))
        {
            throw new CheckpointException(manifestPath, "is missing; the committed checkpoint is incomplete (its folder was changed after it was written)");
        }
        if (Sha256(manifestPath) != commit.ManifestSha256)
        {
            throw new CheckpointException(manifestPath, "does not match the checksum the commit recorded; the checkpoint was changed after it was written");
        }
        CheckpointManifest manifest = ReadJson<CheckpointManifest>(manifestPath);
        if (manifest.Files is null || manifest.Fingerprint is null)
        {
            throw new CheckpointException(manifestPath, "lists no files");
        }
        foreach (string listed in DataFiles.Concat(manifest.Files.Select(f => f.Name).Where(f => f == ExperienceFile)))
        {
            ManifestEntry entry = manifest.Files.FirstOrDefault(f => f.Name == listed) ?? throw new CheckpointException(manifestPath, $"does not list {listed}");
            string path = Path.Combine(folder, listed);
            if (!File.Exists(path))
            {
                throw new CheckpointException(path, "is missing; the checkpoint is incomplete");
            }
            long size = new FileInfo(path).Length;
            if (size != entry.Size)
            {
                throw new CheckpointException(path, $"has {size} bytes but {entry.Size} were written; it was truncated or changed");
            }
            if (Sha256(path) != entry.Sha256)
            {
                throw new CheckpointException(path, "does not match the SHA-256 its manifest recorded; it changed after it was written");
            }
        }

        string statePath = Path.Combine(folder, StateFile);
        CheckpointState state = ReadJson<CheckpointState>(statePath);
        if (state.Step < 0)
        {
            throw new CheckpointException(statePath, $"has step {state.Step}; a step count is >= 0");
        }
        if (state.Step != manifest.Step)
        {
            throw new CheckpointException(statePath, $"has step {state.Step} but its manifest was written at step {manifest.Step}");
        }
        if (state.Mode != mode || state.Seed != seed)
        {
            throw new CheckpointException(statePath, $"belongs to {state.Mode} seed {state.Seed}, not {mode} seed {seed}");
        }
        if (state.Fingerprint != expectedFingerprint || manifest.Fingerprint != expectedFingerprint)
        {
            throw new CheckpointException(statePath, "was written with other model or task settings; resume with the same options or use another --output");
        }
        if (state.History is null || state.Steps is null)
        {
            throw new CheckpointException(statePath, "has no history");
        }

        string modelPath = Path.Combine(folder, ModelFile);
        try
        {
            model.load(modelPath);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new CheckpointException(modelPath, $"is corrupt or does not match the model ({ex.Message})");
        }
        if (NonFiniteParameter(model) is { } name)
        {
            throw new CheckpointException(modelPath, $"holds NaN/Inf in parameter {name}");
        }
        string optimizerPath = Path.Combine(folder, OptimizerFile);
        try
        {
            optimizer.load_state_dict(optimizerPath);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new CheckpointException(optimizerPath, $"is corrupt or does not match the optimizer ({ex.Message})");
        }
        foreach (OptimizerState s in optimizer.state_dict().State)
        {
            if (s is AdamW.State adam && !(Finite(adam.exp_avg) && Finite(adam.exp_avg_sq)) || s is AdamW.State { step: < 0 })
            {
                throw new CheckpointException(optimizerPath, "holds NaN/Inf (or a negative step) in the AdamW moments");
            }
        }
        return state;
    }

    private static bool Finite(torch.Tensor? t)
    {
        using var scope = torch.NewDisposeScope();
        return t is null || t.isfinite().all().item<bool>();
    }

    /// <summary>The name of the first parameter holding NaN/Inf, or <see langword="null"/>.</summary>
    private static string? NonFiniteParameter(CausalLanguageModel model) =>
        model.named_parameters().Where(p => !Finite(p.parameter)).Select(p => p.name).FirstOrDefault();

    /// <summary>Writes (flushed) the manifest of a checkpoint folder: every data file's size and SHA-256.</summary>
    private static void WriteManifest(string folder, int step, string fingerprint, bool withExperience = false)
    {
        var manifest = new CheckpointManifest(step, fingerprint, [.. DataFiles.Append(withExperience ? ExperienceFile : null).OfType<string>().Select(f => Describe(folder, f))]);
        WriteFlushed(Path.Combine(folder, ManifestFile), JsonSerializer.Serialize(manifest, TrainerOptions.JsonOptions));
    }

    /// <summary>Recomputes a checkpoint folder's manifest (for tests that build checkpoints by hand).</summary>
    internal static void Seal(string runDirectory, string folder, int step, string fingerprint)
    {
        WriteManifest(folder, step, fingerprint, File.Exists(Path.Combine(folder, ExperienceFile)));
        WriteFlushed(Path.Combine(runDirectory, PointerFile), JsonSerializer.Serialize(new CheckpointPointer(Path.GetRelativePath(runDirectory, folder), Sha256(Path.Combine(folder, ManifestFile))), TrainerOptions.JsonOptions));
    }

    /// <summary>The folder of the committed checkpoint (for tests and logs).</summary>
    public static string? CommittedFolder(string runDirectory) => Committed(runDirectory) is { } c ? Path.Combine(runDirectory, c.Folder) : null;

    private static ManifestEntry Describe(string folder, string file)
    {
        string path = Path.Combine(folder, file);
        return new ManifestEntry(file, new FileInfo(path).Length, Sha256(path));
    }

    private static string Sha256(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }

    private static void WriteFlushed(string path, string text)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        using (var writer = new StreamWriter(stream, leaveOpen: true))
        {
            writer.Write(text);
        }
        stream.Flush(flushToDisk: true);
    }

    private static void Flush(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Makes a rename durable: fsync of the folder (<see cref="DirectorySync"/>).</summary>
    private static void FlushDirectory(string directory) => DirectorySync.Flush(directory);

    private static void RemoveAllBut(string root, string keep)
    {
        foreach (string entry in Directory.EnumerateDirectories(root))
        {
            if (Path.GetFileName(entry) != keep)
            {
                TryDelete(entry);
            }
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // a leftover folder is removed by the next save
        }
    }
}
