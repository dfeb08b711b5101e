using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Luffy.Trainer.HuggingFace;

/// <summary>
/// A byte-level BPE tokenizer loaded from a Hugging Face <c>tokenizer.json</c> (Qwen2, Llama 3, GPT-2 style): the
/// vocabulary and merges (either serialization), the pre-tokenizer split pattern, the NFC normalizer when present,
/// and the added tokens, which are matched in text before pre-tokenization. Encoding and decoding run on
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>.
/// </summary>
public sealed class HuggingFaceTokenizer
{
    /// <summary>The GPT-2 split pattern, used by a ByteLevel pre-tokenizer with use_regex and no explicit Split.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly BpeTokenizer bpe;
    private readonly HashSet<int> specialIds;
    private readonly Dictionary<string, int> addedTokens;
    private readonly bool addPrefixSpace;

    private HuggingFaceTokenizer(BpeTokenizer bpe, Dictionary<string, int> addedTokens, HashSet<int> specialIds, bool addPrefixSpace, int vocabularySize)
    {
        this.bpe = bpe;
        this.addedTokens = addedTokens;
        this.specialIds = specialIds;
        this.addPrefixSpace = addPrefixSpace;
        VocabularySize = vocabularySize;
    }

    /// <summary>One more than the largest token id (vocabulary and added tokens).</summary>
    public int VocabularySize { get; }

    /// <summary>Added tokens (special or not) by content.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => addedTokens;

    /// <summary>The id of an added token such as <c>&lt;|im_end|&gt;</c>, or null.</summary>
    public int? TokenId(string token) => addedTokens.TryGetValue(token, out int id) ? id : bpe.Vocabulary.TryGetValue(token, out int v) ? v : null;

    /// <summary>Loads <paramref name="path"/>.</summary>
    /// <exception cref="SafetensorsException">The file is missing, not JSON, or not a byte-level BPE tokenizer (the reason is named).</exception>
    public static HuggingFaceTokenizer Load(string path)
    {
        JsonObject root = JsonFile.ReadObject(path, "the model folder needs the Hugging Face tokenizer.json");
        try
        {
            return FromJson(root, path);
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException)
        {
            throw new SafetensorsException(path, null, $"cannot be read as a byte-level BPE tokenizer: {ex.Message}");
        }
    }

    private static HuggingFaceTokenizer FromJson(JsonObject root, string path)
    {
        JsonObject model = root["model"]?.AsObject() ?? throw new SafetensorsException(path, null, "has no \"model\"");
        string type = model["type"]?.GetValue<string>() ?? "BPE";
        if (type != "BPE")
        {
            throw new SafetensorsException(path, null, $"has a {type} model; only byte-level BPE tokenizers are supported");
        }
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach ((string token, JsonNode? id) in model["vocab"]?.AsObject() ?? throw new SafetensorsException(path, null, "has no model.vocab"))
        {
            vocabulary[token] = (int)id!.GetValue<long>();
        }
        var merges = new List<string>();
        // Hugging Face's tokenizers refuse a BPE model without merges ("Missing vocab/merges"); without them every
        // word would fall apart into single bytes. An explicitly empty list is legitimate (a vocabulary of bytes only).
        JsonArray mergeList = model["merges"]?.AsArray()
            ?? throw new SafetensorsException(path, null, "has no model.merges (a BPE tokenizer needs its merge list; an empty list [] is allowed)");
        foreach (JsonNode? merge in mergeList)
        {
            merges.Add(merge switch
            {
                JsonArray pair when pair.Count == 2 => $"{pair[0]!.GetValue<string>()} {pair[1]!.GetValue<string>()}",
                JsonValue text => text.GetValue<string>(),
                _ => throw new SafetensorsException(path, null, $"has a malformed merge {merge?.ToJsonString()}"),
            });
        }

        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var special = new HashSet<int>();
        foreach (JsonNode? token in root["added_tokens"]?.AsArray() ?? [])
        {
            string content = token!["content"]!.GetValue<string>();
            int id = (int)token["id"]!.GetValue<long>();
            added[content] = id;
            if (token["special"]?.GetValue<bool>() ?? false)
            {
                special.Add(id);
            }
        }

        (string? pattern, bool byteLevel, bool prefixSpace) = PreTokenizer(root["pre_tokenizer"], path);
        if (!byteLevel || root["decoder"]?["type"]?.GetValue<string>() is string decoder && decoder != "ByteLevel" && decoder != "Sequence")
        {
            throw new SafetensorsException(path, null, "is not byte-level (pre_tokenizer and decoder must include ByteLevel)");
        }
        Normalizer? normalizer = root["normalizer"] switch
        {
            null => null,
            JsonObject n when n["type"]?.GetValue<string>() == "NFC" => new NfcNormalizer(),
            JsonObject n => throw new SafetensorsException(path, null, $"has a {n["type"]} normalizer; supported: none or NFC"),
            _ => null,
        };
        var options = new BpeOptions(vocabulary)
        {
            Merges = merges,
            SpecialTokens = added,
            ByteLevel = true,
            Normalizer = normalizer,
            PreTokenizer = new RegexPreTokenizer(new Regex(pattern ?? Gpt2Pattern, RegexOptions.Compiled), added),
        };
        int size = Math.Max(vocabulary.Count == 0 ? 0 : vocabulary.Values.Max() + 1, added.Count == 0 ? 0 : added.Values.Max() + 1);
        return new HuggingFaceTokenizer(BpeTokenizer.Create(options), added, special, prefixSpace, size);
    }

    /// <summary>The split pattern, whether a ByteLevel step is present, and its add_prefix_space.</summary>
    private static (string? Pattern, bool ByteLevel, bool PrefixSpace) PreTokenizer(JsonNode? node, string path)
    {
        if (node is not JsonObject o)
        {
            return (null, false, false);
        }
        switch (o["type"]?.GetValue<string>())
        {
            case "ByteLevel":
                bool useRegex = o["use_regex"]?.GetValue<bool>() ?? true;
                return (useRegex ? Gpt2Pattern : "(?s).+", true, o["add_prefix_space"]?.GetValue<bool>() ?? false);
            case "Split":
                string? regex = o["pattern"]?["Regex"]?.GetValue<string>() ?? (o["pattern"]?["String"]?.GetValue<string>() is string s ? Regex.Escape(s) : null);
                if (o["behavior"]?.GetValue<string>() is string behavior && behavior != "Isolated" || (o["invert"]?.GetValue<bool>() ?? false))
                {
                    throw new SafetensorsException(path, null, $"has a Split pre-tokenizer with behavior {o["behavior"]} / invert; only Isolated, not inverted, is supported");
                }
                return (regex, false, false);
            case "Sequence":
                string? pattern = null;
                bool byteLevel = false, prefix = false;
                foreach (JsonNode? step in o["pretokenizers"]?.AsArray() ?? [])
                {
                    (string? p, bool b, bool space) = PreTokenizer(step, path);
                    if (step?["type"]?.GetValue<string>() == "ByteLevel")
                    {
                        byteLevel = true;
                        prefix = space;
                        pattern ??= (step["use_regex"]?.GetValue<bool>() ?? true) ? Gpt2Pattern : null;
                    }
                    else if (p is not null)
                    {
                        if (pattern is not null)
                        {
                            throw new SafetensorsException(path, null, "has more than one Split pre-tokenizer; only one is supported");
                        }
                        pattern = p;
                    }
                    byteLevel |= b;
                }
                return (pattern, byteLevel, prefix);
            case string other:
                throw new SafetensorsException(path, null, $"has a {other} pre-tokenizer; supported: ByteLevel, Split, Sequence of them");
            default:
                return (null, false, false);
        }
    }

    /// <summary>Token ids of <paramref name="text"/>; added tokens in the text (e.g. <c>&lt;|im_start|&gt;</c>) become their ids.</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return [];
        }
        return [.. bpe.EncodeToIds(addPrefixSpace && !text.StartsWith(' ') ? " " + text : text)];
    }

    /// <summary>The text of <paramref name="ids"/>; special tokens are dropped when <paramref name="skipSpecialTokens"/> is set.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        IEnumerable<int> kept = skipSpecialTokens ? ids.Where(id => !specialIds.Contains(id)) : ids;
        return bpe.Decode(kept, considerSpecialTokens: true) ?? "";
    }

    /// <summary>
    /// Unicode NFC normalization (Qwen2's normalizer). .NET's <see cref="string.Normalize(NormalizationForm)"/> refuses
    /// the noncharacter U+FFFE ("invalid code points"), which Hugging Face's normalizer passes through; U+FFFE is a
    /// starter without decomposition that composes with nothing, so nothing composes across it, and normalizing the text
    /// between its occurrences is NFC of the whole.
    /// </summary>
    private sealed class NfcNormalizer : Normalizer
    {
        private const char Noncharacter = '\uFFFE';

        public override string Normalize(string original) => original.Contains(Noncharacter)
            ? string.Join(Noncharacter, original.Split(Noncharacter).Select(part => part.Normalize(NormalizationForm.FormC)))
            : original.Normalize(NormalizationForm.FormC);

        public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
    }
}
