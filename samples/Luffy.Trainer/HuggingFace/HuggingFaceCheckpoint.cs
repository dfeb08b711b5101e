using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Luffy.Trainer.HuggingFace;

/// <summary>
/// Loads and saves a Hugging Face model folder: <c>config.json</c> plus <c>model.safetensors</c> or a sharded
/// <c>model.safetensors.index.json</c>. Pickle-based weights (<c>pytorch_model.bin</c>) are refused unless
/// explicitly allowed, because unpickling can run code. Saving writes the same layout (config, tokenizer files,
/// safetensors, an index when sharded), so Python tools load the result directly.
/// </summary>
public static class HuggingFaceCheckpoint
{
    /// <summary>Single-file weights.</summary>
    public const string WeightsFile = "model.safetensors";

    /// <summary>Index of sharded weights.</summary>
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>Largest shard written by <see cref="Save"/> by default (Hugging Face's own default): 5 GB.</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    private static readonly string[] CompanionFiles = ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"];

    /// <summary>Loads the model in <paramref name="directory"/> in <paramref name="dtype"/> (float32 or bfloat16) on the CPU.</summary>
    /// <param name="directory">A folder with config.json and the weights.</param>
    /// <param name="dtype">Parameter dtype; stored tensors are converted.</param>
    /// <param name="allowPickle">Load <c>pytorch_model.bin</c> when there are no safetensors. Only for files you trust.</param>
    /// <exception cref="SafetensorsException">A file is missing or malformed, or a tensor is missing or has the wrong shape (named).</exception>
    public static DecoderLanguageModel Load(string directory, ScalarType dtype = ScalarType.Float32, bool allowPickle = false)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
        {
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "float32, bfloat16 or float16.");
        }
        TransformerConfig config = TransformerConfig.Load(Path.Combine(directory, "config.json"));
        Dictionary<string, string> sources = WeightSources(directory, allowPickle);
        var model = new DecoderLanguageModel(config, dtype);
        try
        {
            using var noGrad = no_grad();
            var parameters = model.state_dict();
            foreach (string name in parameters.Keys)
            {
                if (!sources.ContainsKey(name))
                {
                    string where = File.Exists(Path.Combine(directory, IndexFile)) ? Path.Combine(directory, IndexFile) : sources.Values.FirstOrDefault() ?? directory;
                    throw new SafetensorsException(where, name, $"is missing (a {config.ModelType} model with {config.Layers} layers needs it)");
                }
            }
            foreach (IGrouping<string, string> file in parameters.Keys.GroupBy(n => sources[n]))
            {
                Dictionary<string, Tensor> loaded = file.Key.EndsWith(".safetensors", StringComparison.Ordinal)
                    ? Safetensors.Load(file.Key, file.ToArray())
                    : Unpickle(file.Key, file.ToArray());
                try
                {
                    foreach ((string name, Tensor stored) in loaded)
                    {
                        Tensor target = parameters[name];
                        if (!stored.shape.SequenceEqual(target.shape))
                        {
                            throw new SafetensorsException(file.Key, name, $"has shape [{string.Join(", ", stored.shape)}] but config.json implies [{string.Join(", ", target.shape)}]");
                        }
                        target.copy_(stored);
                    }
                }
                finally
                {
                    foreach (Tensor t in loaded.Values)
                    {
                        t.Dispose();
                    }
                }
            }
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Which file holds each tensor.</summary>
    private static Dictionary<string, string> WeightSources(string directory, bool allowPickle)
    {
        string single = Path.Combine(directory, WeightsFile);
        string index = Path.Combine(directory, IndexFile);
        if (File.Exists(index))
        {
            JsonObject weightMap;
            try
            {
                weightMap = JsonNode.Parse(File.ReadAllText(index))?["weight_map"]?.AsObject() ?? throw new SafetensorsException(index, null, "has no \"weight_map\" object");
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                throw new SafetensorsException(index, null, $"is not a valid index ({ex.Message})");
            }
            var map = new Dictionary<string, string>();
            foreach ((string name, JsonNode? file) in weightMap)
            {
                string? shard = (file as JsonValue)?.TryGetValue(out string? s) == true ? s : null;
                if (shard is null || shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                {
                    throw new SafetensorsException(index, name, $"maps to {file?.ToJsonString() ?? "null"}, not a file name in the model folder");
                }
                map[name] = Path.Combine(directory, shard);
            }
            foreach (string shard in map.Values.Distinct())
            {
                if (!File.Exists(shard))
                {
                    throw new SafetensorsException(shard, null, $"is listed in {IndexFile} but does not exist");
                }
                if (!shard.EndsWith(".safetensors", StringComparison.Ordinal))
                {
                    RefusePickle(shard, allowPickle);
                }
            }
            return map;
        }
        if (File.Exists(single))
        {
            return Safetensors.ReadHeader(single).Tensors.ToDictionary(e => e.Name, _ => single);
        }
        string pickle = Path.Combine(directory, "pytorch_model.bin");
        if (File.Exists(pickle))
        {
            RefusePickle(pickle, allowPickle);
            using var scope = NewDisposeScope();
            return UnpickleNames(pickle).ToDictionary(n => n, _ => pickle);
        }
        if (File.Exists(Path.Combine(directory, "pytorch_model.bin.index.json")))
        {
            throw new SafetensorsException(Path.Combine(directory, "pytorch_model.bin.index.json"), null, "is a sharded pickle checkpoint; convert it to safetensors (see the README)");
        }
        throw new SafetensorsException(directory, null, $"has neither {WeightsFile} nor {IndexFile}");
    }

    private static void RefusePickle(string path, bool allowPickle)
    {
        if (!allowPickle)
        {
            throw new SafetensorsException(path, null, "is a pickle-based PyTorch checkpoint, and unpickling can run arbitrary code; convert it to safetensors, or pass --allow-pickle if you trust the file");
        }
    }

    private static IEnumerable<string> UnpickleNames(string path)
    {
        var names = new List<string>();
        using (var stream = File.OpenRead(path))
        {
            foreach (DictionaryEntry e in PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: true, skipTensorRead: true))
            {
                names.Add((string)e.Key);
            }
        }
        return names;
    }

    private static Dictionary<string, Tensor> Unpickle(string path, IReadOnlyCollection<string> names)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry e in PyTorchUnpickler.UnpickleStateDict(path))
        {
            var tensor = (Tensor)e.Value!;
            if (names.Contains((string)e.Key))
            {
                result[(string)e.Key] = tensor;
            }
            else
            {
                tensor.Dispose();
            }
        }
        return result;
    }

    /// <summary>
    /// Saves <paramref name="model"/> to <paramref name="directory"/> in the Hugging Face layout: config.json (the
    /// original JSON, torch_dtype updated), the tokenizer files found in <paramref name="sourceDirectory"/>, and the
    /// weights in their current dtype — one <c>model.safetensors</c>, or shards of at most
    /// <paramref name="maxShardBytes"/> with <c>model.safetensors.index.json</c>. Written to a temporary folder and
    /// moved into place, so an interrupted save leaves the previous export intact.
    /// </summary>
    public static void Save(DecoderLanguageModel model, string directory, string? sourceDirectory = null, long maxShardBytes = DefaultMaxShardBytes)
    {
        if (maxShardBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxShardBytes), maxShardBytes, "must be >= 1.");
        }
        string full = Path.GetFullPath(directory);
        string temporary = full + ".tmp";
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }
        Directory.CreateDirectory(temporary);

        var tensors = model.state_dict().ToList();
        ScalarType dtype = tensors[0].Value.dtype;
        var config = (JsonObject)model.Config.Json.DeepClone();
        config["torch_dtype"] = dtype switch { ScalarType.BFloat16 => "bfloat16", ScalarType.Float16 => "float16", _ => "float32" };
        File.WriteAllText(Path.Combine(temporary, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        // the tokenizer files come from the source folder, or stay those of the export being replaced
        string companions = sourceDirectory is not null && Path.GetFullPath(sourceDirectory) != full ? sourceDirectory : full;
        foreach (string name in CompanionFiles.Where(n => File.Exists(Path.Combine(companions, n))))
        {
            File.Copy(Path.Combine(companions, name), Path.Combine(temporary, name));
        }

        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long size = 0, total = 0;
        foreach (KeyValuePair<string, Tensor> t in tensors)
        {
            long bytes = t.Value.numel() * t.Value.ElementSize;
            if (size > 0 && size + bytes > maxShardBytes)
            {
                shards.Add([]);
                size = 0;
            }
            shards[^1].Add(t);
            size += bytes;
            total += bytes;
        }
        if (shards.Count == 1)
        {
            Safetensors.Save(Path.Combine(temporary, WeightsFile), shards[0]);
        }
        else
        {
            var weightMap = new JsonObject();
            for (int i = 0; i < shards.Count; i++)
            {
                string name = string.Create(CultureInfo.InvariantCulture, $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors");
                Safetensors.Save(Path.Combine(temporary, name), shards[i]);
                foreach (KeyValuePair<string, Tensor> t in shards[i])
                {
                    weightMap[t.Key] = name;
                }
            }
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
            File.WriteAllText(Path.Combine(temporary, IndexFile), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }

        Training.AtomicDirectory.Replace(temporary, full);
    }
}
