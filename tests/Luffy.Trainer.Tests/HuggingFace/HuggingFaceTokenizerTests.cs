using System.Text.Json.Nodes;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Luffy.Trainer.HuggingFace;

namespace Luffy.Trainer.Tests.HuggingFace;

public class HuggingFaceTokenizerTests : IDisposable
{
    private readonly TinyCheckpoints files = new();
    private readonly HuggingFaceTokenizer tokenizer;

    public HuggingFaceTokenizerTests()
    {
        string path = Path.Combine(files.Folder, "tokenizer.json");
        TinyCheckpoints.WriteTokenizer(path);
        tokenizer = HuggingFaceTokenizer.Load(path);
    }

    public void Dispose() => files.Dispose();

    [Fact]
    public void Merges_apply_in_rank_order_and_bytes_map_to_their_ids()
    {
        // " the" → "Ġthe" (merges Ġ t, h e, Ġt he); "a" → byte 97; "é" → its two UTF-8 bytes.
        Assert.Equal([(int)'a', 259 + 2], tokenizer.Encode("a the"));
        Assert.Equal([0xC3, 0xA9], tokenizer.Encode("é"));
        Assert.Equal([259 + 16, (int)'{', (int)'1', (int)'}'], tokenizer.Encode("\\boxed{1}"));
    }

    [Fact]
    public void Added_tokens_in_text_become_their_ids_and_can_be_skipped_when_decoding()
    {
        int[] ids = tokenizer.Encode("<|im_start|>user\nhi<|im_end|>\n");
        Assert.Equal(257, ids[0]);
        Assert.Contains(258, ids);
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n", tokenizer.Decode(ids));
        Assert.Equal("user\nhi\n", tokenizer.Decode(ids, skipSpecialTokens: true));
        Assert.Equal(258, tokenizer.TokenId("<|im_end|>"));
        Assert.Equal(259 + 17, tokenizer.VocabularySize);
    }

    [Fact]
    public void The_pre_tokenizer_splits_digits_one_by_one_as_qwen_does()
    {
        Assert.Equal(["1", "2", "3"], tokenizer.Encode("123").Select(id => tokenizer.Decode([id])));
    }

    [Fact]
    public void Legacy_string_merges_give_the_same_encoding()
    {
        string legacy = Path.Combine(files.Folder, "legacy.json");
        TinyCheckpoints.WriteTokenizer(legacy, legacyMerges: true);
        HuggingFaceTokenizer other = HuggingFaceTokenizer.Load(legacy);
        const string text = "Then the answer is \\boxed{\\frac{1}{2}} — in short.";
        Assert.Equal(tokenizer.Encode(text), other.Encode(text));
    }

    [Property(MaxTest = 200)]
    public Property Arbitrary_unicode_text_round_trips()
    {
        // Any valid UTF-16 string (surrogate pairs included, lone surrogates excluded), compared after NFC, which is the
        // tokenizer's normalizer. .NET's NFC refuses U+FFFE, so the expectation cannot be computed with it: that code
        // point has its own test.
        Gen<string> text = Gen.Choose(0, 0x10FFFF)
            .Where(cp => cp is (< 0xD800 or > 0xDFFF) and not 0xFFFE)
            .Select(char.ConvertFromUtf32)
            .ArrayOf()
            .Select(parts => string.Concat(parts) + " \n\t <|im_end|>x");
        return Prop.ForAll(text.ToArbitrary(), s => tokenizer.Decode(tokenizer.Encode(s)) == s.Normalize(NormalizationForm.FormC));
    }

    [Fact]
    public void The_noncharacter_U_FFFE_round_trips_and_the_text_around_it_is_normalized()
    {
        // e + combining acute composes to é (U+00E9) on either side of U+FFFE, which itself passes through as Hugging
        // Face's normalizer passes it (.NET's own NFC throws on it); nothing composes across it
        Assert.Equal("\u00E9\uFFFE\u00E9\uFFFE\u0301x", tokenizer.Decode(tokenizer.Encode("e\u0301\uFFFEe\u0301\uFFFE\u0301x")));
    }

    [Property(MaxTest = 100)]
    public Property Ascii_and_latex_text_round_trips_exactly(NonNull<string> s)
    {
        string text = new(s.Get.Where(c => c < 128).ToArray());
        return (tokenizer.Decode(tokenizer.Encode(text)) == text).ToProperty();
    }

    [Fact]
    public void A_missing_file_or_an_unsupported_model_is_named()
    {
        var missing = Assert.Throws<SafetensorsException>(() => HuggingFaceTokenizer.Load(Path.Combine(files.Folder, "nope.json")));
        Assert.Contains("nope.json", missing.Message);
        string unigram = Path.Combine(files.Folder, "unigram.json");
        File.WriteAllText(unigram, """{"model": {"type": "Unigram", "vocab": []}}""");
        var ex = Assert.Throws<SafetensorsException>(() => HuggingFaceTokenizer.Load(unigram));
        Assert.Contains("unigram.json", ex.Message);
        Assert.Contains("Unigram", ex.Message);
    }

    [Fact]
    public void A_tokenizer_without_merges_is_refused_and_an_empty_merge_list_is_accepted()
    {
        JsonObject root = JsonNode.Parse(File.ReadAllText(Path.Combine(files.Folder, "tokenizer.json")))!.AsObject();
        root["model"]!.AsObject().Remove("merges");
        string missing = Path.Combine(files.Folder, "no-merges.json");
        File.WriteAllText(missing, root.ToJsonString());
        var ex = Assert.Throws<SafetensorsException>(() => HuggingFaceTokenizer.Load(missing));
        Assert.Contains("no-merges.json", ex.Message);
        Assert.Contains("has no model.merges", ex.Message);

        root["model"]!["merges"] = new JsonArray();
        string empty = Path.Combine(files.Folder, "empty-merges.json");
        File.WriteAllText(empty, root.ToJsonString());
        HuggingFaceTokenizer bytesOnly = HuggingFaceTokenizer.Load(empty);
        Assert.Equal(" the".Length, bytesOnly.Encode(" the").Length); // no merges: one token per byte
    }
}
