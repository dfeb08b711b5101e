using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Luffy.Trainer.HuggingFace;

/// <summary>
/// Reads and writes the safetensors format (8-byte little-endian header length, JSON header, raw little-endian data).
/// Reading validates the header before any tensor is touched: the header fits in the file, every dtype is known,
/// every byte range lies inside the data section, matches shape × element size, and no two ranges overlap.
/// </summary>
public static class Safetensors
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8),
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>The safetensors dtype name of a TorchSharp dtype.</summary>
    public static string DTypeName(ScalarType type) =>
        DTypes.FirstOrDefault(p => p.Value.Type == type).Key ?? throw new ArgumentException($"dtype {type} has no safetensors name.", nameof(type));

    /// <summary>Reads and validates the header of <paramref name="path"/>; returns its tensors (in file order) and its metadata.</summary>
    /// <exception cref="SafetensorsException">The file is truncated, or the header is malformed or inconsistent.</exception>
    public static (IReadOnlyList<SafetensorsEntry> Tensors, IReadOnlyDictionary<string, string> Metadata) ReadHeader(string path)
    {
        using FileStream stream = OpenRead(path);
        return ReadHeader(stream, path, out _);
    }

    private static FileStream OpenRead(string path)
    {
        if (!File.Exists(path))
        {
            throw new SafetensorsException(path, null, "does not exist");
        }
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    private static (IReadOnlyList<SafetensorsEntry>, IReadOnlyDictionary<string, string>) ReadHeader(FileStream stream, string path, out long dataStart)
    {
        long fileLength = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (fileLength < 8 || stream.Read(prefix) != 8)
        {
            throw new SafetensorsException(path, null, $"is {fileLength} bytes long, too short for a safetensors header (truncated?)");
        }
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > (ulong)Math.Min(MaxHeaderBytes, fileLength - 8))
        {
            throw new SafetensorsException(path, null, $"declares a {headerLength}-byte header but the file is {fileLength} bytes long (truncated, or not a safetensors file)");
        }
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;

        JsonObject root;
        try
        {
            root = JsonNode.Parse(header)?.AsObject() ?? throw new SafetensorsException(path, null, "has an empty header");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new SafetensorsException(path, null, $"has a header that is not a JSON object ({ex.Message})");
        }

        var metadata = new Dictionary<string, string>();
        var entries = new List<SafetensorsEntry>();
        foreach ((string name, JsonNode? node) in root)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                {
                    foreach ((string key, JsonNode? value) in meta)
                    {
                        metadata[key] = value is JsonValue v && v.TryGetValue(out string? s) ? s : value?.ToJsonString() ?? "";
                    }
                }
                continue;
            }
            entries.Add(ParseEntry(path, name, node, dataLength));
        }
        var ordered = entries.OrderBy(e => e.Begin).ToList();
        for (int i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Begin < ordered[i - 1].End)
            {
                throw new SafetensorsException(path, ordered[i].Name, $"overlaps tensor '{ordered[i - 1].Name}' (bytes [{ordered[i].Begin}, {ordered[i].End}) vs [{ordered[i - 1].Begin}, {ordered[i - 1].End}))");
            }
        }
        return (ordered, metadata);
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonNode? node, long dataLength)
    {
        try
        {
            JsonObject o = node?.AsObject() ?? throw new FormatException("is not an object");
            string dtype = o["dtype"]?.GetValue<string>() ?? throw new FormatException("has no dtype");
            if (!DTypes.TryGetValue(dtype, out var info))
            {
                throw new SafetensorsException(path, name, $"has dtype {dtype}; supported: {string.Join(", ", DTypes.Keys)}");
            }
            long[] shape = (o["shape"]?.AsArray() ?? throw new FormatException("has no shape")).Select(d => d!.GetValue<long>()).ToArray();
            long[] offsets = (o["data_offsets"]?.AsArray() ?? throw new FormatException("has no data_offsets")).Select(d => d!.GetValue<long>()).ToArray();
            if (offsets.Length != 2)
            {
                throw new FormatException($"has {offsets.Length} data_offsets instead of 2");
            }
            if (shape.Any(d => d < 0))
            {
                throw new FormatException($"has a negative dimension in shape [{string.Join(", ", shape)}]");
            }
            long elements = shape.Aggregate(1L, (a, d) => checked(a * d));
            long expected = checked(elements * info.Size);
            if (offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
            {
                throw new SafetensorsException(path, name, $"has bytes [{offsets[0]}, {offsets[1]}) outside the {dataLength}-byte data section (truncated file?)");
            }
            if (offsets[1] - offsets[0] != expected)
            {
                throw new SafetensorsException(path, name, $"is {dtype} [{string.Join(", ", shape)}] = {expected} bytes but its data_offsets span {offsets[1] - offsets[0]} bytes");
            }
            return new SafetensorsEntry(name, dtype, shape, offsets[0], offsets[1]);
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException or JsonException or OverflowException)
        {
            throw new SafetensorsException(path, name, $"has a malformed header entry: {ex.Message}");
        }
    }

    /// <summary>
    /// Loads tensors from <paramref name="path"/> onto the CPU in their stored dtype: those named by
    /// <paramref name="names"/> (null = all). The caller owns (and disposes) the returned tensors.
    /// </summary>
    /// <exception cref="SafetensorsException">The header is invalid or a requested tensor is not in the file.</exception>
    public static Dictionary<string, Tensor> Load(string path, IReadOnlyCollection<string>? names = null)
    {
        using FileStream stream = OpenRead(path);
        (IReadOnlyList<SafetensorsEntry> entries, _) = ReadHeader(stream, path, out long dataStart);
        var byName = entries.ToDictionary(e => e.Name);
        if (names is not null)
        {
            foreach (string name in names)
            {
                if (!byName.ContainsKey(name))
                {
                    throw new SafetensorsException(path, name, "is missing from the file");
                }
            }
        }
        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (SafetensorsEntry e in entries.Where(e => names is null || names.Contains(e.Name)))
            {
                Tensor t = empty(e.Shape, DTypes[e.DType].Type);
                result[e.Name] = t;
                stream.Seek(dataStart + e.Begin, SeekOrigin.Begin);
                Span<byte> target = t.bytes;
                int read = 0;
                while (read < target.Length)
                {
                    int n = stream.Read(target[read..]);
                    if (n == 0)
                    {
                        throw new SafetensorsException(path, e.Name, "ends before its data (truncated file)");
                    }
                    read += n;
                }
            }
        }
        catch
        {
            foreach (Tensor t in result.Values)
            {
                t.Dispose();
            }
            throw;
        }
        return result;
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (any device; copied to the CPU, made contiguous) to <paramref name="path"/>
    /// in safetensors format, in the given order, with <c>{"format": "pt"}</c> plus <paramref name="metadata"/>.
    /// The file is written to a temporary name and moved into place.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        var meta = new JsonObject { ["format"] = "pt" };
        foreach ((string k, string v) in metadata ?? new Dictionary<string, string>())
        {
            meta[k] = v;
        }
        header["__metadata__"] = meta;
        long offset = 0;
        foreach ((string name, Tensor t) in list)
        {
            long bytes = t.numel() * t.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = DTypeName(t.dtype),
                ["shape"] = new JsonArray(t.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
            stream.Write(prefix);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++)
            {
                stream.WriteByte((byte)' ');
            }
            foreach ((_, Tensor t) in list)
            {
                using var scope = NewDisposeScope();
                Tensor cpu = t.detach().cpu().contiguous();
                stream.Write(cpu.bytes);
            }
        }
        File.Move(temporary, path, overwrite: true);
    }
}
