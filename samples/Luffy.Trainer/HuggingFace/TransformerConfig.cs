using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Luffy.Trainer.HuggingFace;

/// <summary>
/// The architecture of a Qwen2 or Llama checkpoint, read from its Hugging Face <c>config.json</c>. Field names follow
/// the file (hidden_size, num_key_value_heads, rope_theta, ...); the original JSON is kept so that a saved checkpoint
/// carries it unchanged.
/// </summary>
public sealed record TransformerConfig
{
    /// <summary>"qwen2" or "llama".</summary>
    public required string ModelType { get; init; }
    /// <summary>vocab_size: rows of the embedding and the LM head (may exceed the tokenizer's ids).</summary>
    public required int VocabularySize { get; init; }
    /// <summary>hidden_size: the residual width H.</summary>
    public required int HiddenSize { get; init; }
    /// <summary>intermediate_size: the SwiGLU MLP's inner width.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>num_hidden_layers.</summary>
    public required int Layers { get; init; }
    /// <summary>num_attention_heads (query heads).</summary>
    public required int AttentionHeads { get; init; }
    /// <summary>num_key_value_heads (grouped-query attention; = AttentionHeads when absent).</summary>
    public required int KeyValueHeads { get; init; }
    /// <summary>Per-head dimension: head_dim when given, else hidden_size / num_attention_heads.</summary>
    public required int HeadDim { get; init; }
    /// <summary>rms_norm_eps (default 1e-6).</summary>
    public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>rope_theta, the rotary base (default 10000).</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>max_position_embeddings (default 32768); informational, RoPE itself has no limit.</summary>
    public int MaxPositions { get; init; } = 32768;
    /// <summary>tie_word_embeddings: the LM head is the token embedding (no lm_head.weight in the files).</summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Biases on the q/k/v projections (always for Qwen2; Llama's attention_bias also puts one on o_proj).</summary>
    public bool QkvBias { get; init; }
    /// <summary>A bias on o_proj (Llama with attention_bias).</summary>
    public bool OutputBias { get; init; }
    /// <summary>Biases on the MLP projections (Llama's mlp_bias).</summary>
    public bool MlpBias { get; init; }
    /// <summary>bos_token_id, when given.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>eos_token_id (a number or a list).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>torch_dtype of the file ("bfloat16", "float32", ...), informational.</summary>
    public string? TorchDtype { get; init; }
    /// <summary>The config.json as read, written back on save.</summary>
    public JsonObject Json { get; init; } = new();

    /// <summary>Reads and validates <paramref name="path"/>.</summary>
    /// <exception cref="SafetensorsException">The file is missing, not JSON, lacks a field, or has an unsupported or inconsistent value (named).</exception>
    public static TransformerConfig Load(string path)
    {
        return FromJson(JsonFile.ReadObject(path, "a Hugging Face model folder has config.json next to the weights"), path);
    }

    /// <summary>Builds the configuration from a parsed config.json; <paramref name="path"/> names it in errors.</summary>
    public static TransformerConfig FromJson(JsonObject json, string path)
    {
        json = JsonNode.Parse(json.ToJsonString())!.AsObject(); // a private copy whose numbers read as any numeric type
        string type = Text(json, "model_type", path);
        if (type is not ("qwen2" or "llama"))
        {
            throw new SafetensorsException(path, null, $"model_type is \"{type}\"; supported: qwen2, llama");
        }
        if (json["rope_scaling"] is JsonObject scaling)
        {
            throw new SafetensorsException(path, null, $"rope_scaling {scaling.ToJsonString()} is not supported (plain rotary embeddings with rope_theta only)");
        }
        if (json["use_sliding_window"] is JsonValue sliding && sliding.TryGetValue(out bool useSliding) && useSliding)
        {
            throw new SafetensorsException(path, null, "use_sliding_window is true; sliding-window attention is not supported (full attention only)");
        }
        if (json["hidden_act"] is JsonValue act && act.TryGetValue(out string? activation) && activation != "silu")
        {
            throw new SafetensorsException(path, null, $"hidden_act is \"{activation}\"; supported: silu (SwiGLU)");
        }
        int hidden = Integer(json, "hidden_size", path, 1);
        int heads = Integer(json, "num_attention_heads", path, 1);
        int kvHeads = json["num_key_value_heads"] is null ? heads : Integer(json, "num_key_value_heads", path, 1);
        if (heads % kvHeads != 0)
        {
            throw new SafetensorsException(path, null, $"num_attention_heads = {heads} is not a multiple of num_key_value_heads = {kvHeads}");
        }
        int headDim = json["head_dim"] is null ? hidden / heads : Integer(json, "head_dim", path, 2);
        if (json["head_dim"] is null && hidden % heads != 0)
        {
            throw new SafetensorsException(path, null, $"hidden_size = {hidden} is not a multiple of num_attention_heads = {heads}");
        }
        if (headDim % 2 != 0)
        {
            throw new SafetensorsException(path, null, $"head_dim = {headDim} must be even for rotary embeddings");
        }
        bool attentionBias = Flag(json, "attention_bias", path, false);
        var eos = new List<int>();
        switch (json["eos_token_id"])
        {
            case JsonArray array:
                eos.AddRange(array.Select(e => (int)e!.GetValue<long>()));
                break;
            case JsonValue:
                eos.Add(Integer(json, "eos_token_id", path, 0));
                break;
        }
        return new TransformerConfig
        {
            ModelType = type,
            VocabularySize = Integer(json, "vocab_size", path, 1),
            HiddenSize = hidden,
            IntermediateSize = Integer(json, "intermediate_size", path, 1),
            Layers = Integer(json, "num_hidden_layers", path, 1),
            AttentionHeads = heads,
            KeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = Real(json, "rms_norm_eps", path, 1e-6),
            RopeTheta = Real(json, "rope_theta", path, 10000),
            MaxPositions = json["max_position_embeddings"] is null ? 32768 : Integer(json, "max_position_embeddings", path, 1),
            TieWordEmbeddings = Flag(json, "tie_word_embeddings", path, false),
            QkvBias = type == "qwen2" || attentionBias,
            OutputBias = type == "llama" && attentionBias,
            MlpBias = Flag(json, "mlp_bias", path, false),
            BosTokenId = json["bos_token_id"] is JsonValue ? Integer(json, "bos_token_id", path, 0) : null,
            EosTokenIds = eos,
            TorchDtype = json["torch_dtype"]?.GetValue<string>(),
            Json = json,
        };
    }

    private static string Text(JsonObject json, string field, string path)
    {
        try
        {
            return json[field]?.GetValue<string>() ?? throw new SafetensorsException(path, null, $"has no \"{field}\"");
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new SafetensorsException(path, null, $"\"{field}\" must be a string, not {json[field]!.ToJsonString()}");
        }
    }

    private static int Integer(JsonObject json, string field, string path, int minimum)
    {
        JsonNode node = json[field] ?? throw new SafetensorsException(path, null, $"has no \"{field}\"");
        long value;
        try
        {
            value = node.GetValue<long>();
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new SafetensorsException(path, null, $"\"{field}\" must be an integer, not {node.ToJsonString()}");
        }
        if (value < minimum || value > int.MaxValue)
        {
            throw new SafetensorsException(path, null, $"\"{field}\" = {value.ToString(CultureInfo.InvariantCulture)} must be an integer >= {minimum}");
        }
        return (int)value;
    }

    private static double Real(JsonObject json, string field, string path, double fallback)
    {
        JsonNode? node = json[field];
        if (node is null)
        {
            return fallback;
        }
        try
        {
            double value = node.GetValue<double>();
            return value > 0 && double.IsFinite(value) ? value : throw new FormatException();
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new SafetensorsException(path, null, $"\"{field}\" must be a positive number, not {node.ToJsonString()}");
        }
    }

    private static bool Flag(JsonObject json, string field, string path, bool fallback)
    {
        JsonNode? node = json[field];
        if (node is null)
        {
            return fallback;
        }
        try
        {
            return node.GetValue<bool>();
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new SafetensorsException(path, null, $"\"{field}\" must be true or false, not {node.ToJsonString()}");
        }
    }
}
