using System.Text;
using System.Text.Json.Nodes;
using Luffy.Trainer.HuggingFace;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests.HuggingFace;

/// <summary>
/// Writes tiny Qwen2- and Llama-shaped model folders (config.json, random weights written by TorchSharp.PyBridge's
/// independent safetensors writer, a small byte-level BPE tokenizer.json) into a temporary folder.
/// </summary>
internal sealed class TinyCheckpoints : IDisposable
{
    public const string QwenPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public TinyCheckpoints()
    {
        Folder = Path.Combine(Path.GetTempPath(), "luffy-hf-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Folder);
    }

    public string Folder { get; }

    public static JsonObject Config(string type, bool tied, int vocabulary = 300) => new()
    {
        ["architectures"] = new JsonArray(type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"),
        ["model_type"] = type,
        ["vocab_size"] = vocabulary,
        ["hidden_size"] = 32,
        ["intermediate_size"] = 48,
        ["num_hidden_layers"] = 2,
        ["num_attention_heads"] = 4,
        ["num_key_value_heads"] = 2,
        ["rms_norm_eps"] = 1e-6,
        ["rope_theta"] = type == "qwen2" ? 10000.0 : 500000.0,
        ["max_position_embeddings"] = 128,
        ["tie_word_embeddings"] = tied,
        ["bos_token_id"] = 256,
        ["eos_token_id"] = type == "qwen2" ? 258 : new JsonArray(257, 258),
        ["torch_dtype"] = "float32",
    };

    /// <summary>Writes a model folder with random weights (scaled up so that attention and RoPE matter) and returns it.</summary>
    public string Write(string name, string type, bool tied, int seed = 1, ScalarType dtype = ScalarType.Float32)
    {
        string dir = Path.Combine(Folder, name);
        Directory.CreateDirectory(dir);
        JsonObject config = Config(type, tied);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        manual_seed(seed);
        using var model = new DecoderLanguageModel(TransformerConfig.FromJson(config, "config.json"));
        var state = new Dictionary<string, Tensor>();
        using (no_grad())
        {
            foreach ((string key, Tensor value) in model.state_dict())
            {
                Tensor random = key.EndsWith("layernorm.weight", StringComparison.Ordinal) || key == "model.norm.weight"
                    ? 1 + 0.3 * randn_like(value)
                    : randn_like(value) * (key.Contains("embed", StringComparison.Ordinal) ? 1.0 : 0.4);
                state[key] = random.to_type(dtype);
            }
        }
        TorchSharp.PyBridge.Safetensors.SaveStateDict(Path.Combine(dir, HuggingFaceCheckpoint.WeightsFile), state);
        foreach (Tensor t in state.Values)
        {
            t.Dispose();
        }
        WriteTokenizer(Path.Combine(dir, "tokenizer.json"));
        return dir;
    }

    /// <summary>GPT-2's reversible byte → printable character map.</summary>
    public static Dictionary<byte, char> ByteToChar()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        var map = new Dictionary<byte, char>();
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            map[(byte)b] = printable.Contains(b) ? (char)b : (char)(256 + extra++);
        }
        return map;
    }

    /// <summary>
    /// A byte-level BPE tokenizer.json: ids 0–255 are the bytes, then merges learned greedily from a small English and
    /// LaTeX corpus, then the added tokens &lt;|endoftext|&gt; (256), &lt;|im_start|&gt; (257), &lt;|im_end|&gt; (258).
    /// </summary>
    public static void WriteTokenizer(string path, bool legacyMerges = false)
    {
        Dictionary<byte, char> map = ByteToChar();
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++)
        {
            vocab[map[(byte)b].ToString()] = b;
        }
        string[] merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ġ s", "Ġ =", "\\ f", "\\f r", "\\fr a", "\\fra c", "o x", "b ox", "\\ box", "e d", "\\box ed"];
        var mergeNodes = new JsonArray();
        int next = 259;
        foreach (string merge in merges)
        {
            string[] pair = merge.Split(' ');
            vocab[pair[0] + pair[1]] = next++;
            mergeNodes.Add(legacyMerges ? JsonValue.Create(merge) : new JsonArray(pair[0], pair[1]));
        }
        JsonObject Added(int id, string content) => new() { ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Added(256, "<|endoftext|>"), Added(257, "<|im_start|>"), Added(258, "<|im_end|>")),
            ["normalizer"] = new JsonObject { ["type"] = "NFC" },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = QwenPattern }, ["behavior"] = "Isolated", ["invert"] = false },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false }),
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false },
            ["model"] = new JsonObject { ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = "", ["end_of_word_suffix"] = "", ["fuse_unk"] = false, ["byte_fallback"] = false, ["vocab"] = vocab, ["merges"] = mergeNodes },
        };
        File.WriteAllText(path, root.ToJsonString(), new UTF8Encoding(false));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
