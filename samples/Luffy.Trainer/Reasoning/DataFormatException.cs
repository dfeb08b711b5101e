namespace Luffy.Trainer.Reasoning;

/// <summary>A malformed record of a JSONL data file, naming the file and the (1-based) line.</summary>
public sealed class DataFormatException(string path, long line, string problem) : IOException($"{path} line {line}: {problem}")
{
    /// <summary>The data file.</summary>
    public string Path { get; } = path;

    /// <summary>The 1-based line of the record.</summary>
    public long Line { get; } = line;
}
