using System.Text.Json.Nodes;
using Luffy.Trainer.HuggingFace;

namespace Luffy.Trainer.Tests.HuggingFace;

public class TransformerConfigTests
{
    [Fact]
    public void Qwen2_configs_get_qkv_biases_and_defaults()
    {
        TransformerConfig c = TransformerConfig.FromJson(TinyCheckpoints.Config("qwen2", tied: true), "config.json");
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(2, c.KeyValueHeads);
        Assert.True(c.QkvBias);
        Assert.False(c.OutputBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal([258], c.EosTokenIds);
        Assert.Equal(256, c.BosTokenId);
    }

    [Fact]
    public void Llama_configs_honour_attention_bias_head_dim_and_eos_lists()
    {
        JsonObject json = TinyCheckpoints.Config("llama", tied: false);
        Assert.False(TransformerConfig.FromJson(json, "config.json").QkvBias);
        json["attention_bias"] = true;
        json["head_dim"] = 16;
        json.Remove("num_key_value_heads");
        TransformerConfig c = TransformerConfig.FromJson(json, "config.json");
        Assert.True(c.QkvBias);
        Assert.True(c.OutputBias);
        Assert.Equal(16, c.HeadDim);
        Assert.Equal(4, c.KeyValueHeads); // missing = multi-head attention
        Assert.Equal([257, 258], c.EosTokenIds);
    }

    [Theory]
    [InlineData("rope_scaling", """{"type": "llama3", "factor": 8.0}""", "rope_scaling")]
    [InlineData("use_sliding_window", "true", "sliding-window")]
    [InlineData("hidden_act", "\"gelu\"", "gelu")]
    [InlineData("hidden_size", "30", "hidden_size = 30")]
    [InlineData("rms_norm_eps", "-1", "rms_norm_eps")]
    [InlineData("vocab_size", "0", "vocab_size")]
    [InlineData("tie_word_embeddings", "\"yes\"", "tie_word_embeddings")]
    public void Unsupported_or_inconsistent_fields_are_named(string field, string value, string expected)
    {
        JsonObject json = TinyCheckpoints.Config("qwen2", tied: true);
        json[field] = JsonNode.Parse(value);
        var ex = Assert.Throws<SafetensorsException>(() => TransformerConfig.FromJson(json, "/models/x/config.json"));
        Assert.StartsWith("/models/x/config.json", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void A_missing_field_is_named()
    {
        JsonObject json = TinyCheckpoints.Config("llama", tied: false);
        json.Remove("intermediate_size");
        Assert.Contains("\"intermediate_size\"", Assert.Throws<SafetensorsException>(() => TransformerConfig.FromJson(json, "config.json")).Message);
    }
}
