namespace Luffy.Trainer.HuggingFace;

/// <summary>A checkpoint file (safetensors, config.json, index) that cannot be used, naming the file and, where one is at fault, the tensor.</summary>
public sealed class SafetensorsException(string path, string? tensor, string problem)
    : IOException(tensor is null ? $"{path}: {problem}" : $"{path}: tensor '{tensor}' {problem}")
{
    /// <summary>The file at fault.</summary>
    public string Path { get; } = path;

    /// <summary>The tensor at fault, when there is one.</summary>
    public string? Tensor { get; } = tensor;
}
