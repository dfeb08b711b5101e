namespace Luffy.Trainer.Training;

/// <summary>A checkpoint that cannot be used; names the file.</summary>
public sealed class CheckpointException(string path, string problem) : Exception($"checkpoint file {path} {problem}.")
{
    public string Path { get; } = path;
}
