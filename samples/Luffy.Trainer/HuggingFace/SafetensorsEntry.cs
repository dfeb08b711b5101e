namespace Luffy.Trainer.HuggingFace;

/// <summary>One tensor of a safetensors header: dtype name (F32, BF16, ...), shape and byte range in the data section.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Bytes the tensor occupies.</summary>
    public long Length => End - Begin;
}
