using System.Text.Json.Nodes;
using Luffy.Trainer.HuggingFace;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests.HuggingFace;

[Collection("torch")]
public class HuggingFaceCheckpointTests : IDisposable
{
    private readonly TinyCheckpoints files = new();

    public void Dispose() => files.Dispose();

    private static void AssertBitExact(IEnumerable<KeyValuePair<string, Tensor>> expected, IDictionary<string, Tensor> actual)
    {
        foreach ((string name, Tensor e) in expected)
        {
            Assert.True(actual.ContainsKey(name), $"{name} is missing");
            Tensor a = actual[name];
            Assert.Equal(e.dtype, a.dtype);
            Assert.Equal(e.shape, a.shape);
            Assert.True(e.contiguous().bytes.SequenceEqual(a.contiguous().bytes), $"{name} differs");
        }
    }

    [Theory]
    [InlineData("qwen2", true, ScalarType.Float32)]
    [InlineData("llama", false, ScalarType.Float32)]
    [InlineData("qwen2", false, ScalarType.BFloat16)]
    public void Load_save_load_round_trips_bit_exactly(string type, bool tied, ScalarType dtype)
    {
        string dir = files.Write("source", type, tied, seed: 3, dtype: dtype);
        using DecoderLanguageModel first = HuggingFaceCheckpoint.Load(dir, dtype);
        // the loaded parameters are the file's bytes (read by PyBridge's independent reader)
        Dictionary<string, Tensor> written = TorchSharp.PyBridge.Safetensors.LoadStateDict(Path.Combine(dir, HuggingFaceCheckpoint.WeightsFile));
        AssertBitExact(written, first.state_dict());

        string saved = Path.Combine(files.Folder, "saved");
        HuggingFaceCheckpoint.Save(first, saved, dir);
        using DecoderLanguageModel second = HuggingFaceCheckpoint.Load(saved, dtype);
        AssertBitExact(first.state_dict(), second.state_dict());
        Assert.True(File.Exists(Path.Combine(saved, "tokenizer.json")), "the tokenizer is copied next to the weights");
        Assert.Equal(tied, !Safetensors.ReadHeader(Path.Combine(saved, HuggingFaceCheckpoint.WeightsFile)).Tensors.Any(t => t.Name == "lm_head.weight"));
        // what we write is readable by an independent safetensors reader
        AssertBitExact(first.state_dict(), TorchSharp.PyBridge.Safetensors.LoadStateDict(Path.Combine(saved, HuggingFaceCheckpoint.WeightsFile)));
        JsonObject config = JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "config.json")))!.AsObject();
        Assert.Equal(type, config["model_type"]!.GetValue<string>());
        Assert.Equal(dtype == ScalarType.BFloat16 ? "bfloat16" : "float32", config["torch_dtype"]!.GetValue<string>());
    }

    [Fact]
    public void Sharded_loading_equals_single_file_loading()
    {
        string dir = files.Write("source", "llama", tied: false, seed: 4);
        using DecoderLanguageModel single = HuggingFaceCheckpoint.Load(dir);
        string sharded = Path.Combine(files.Folder, "sharded");
        HuggingFaceCheckpoint.Save(single, sharded, dir, maxShardBytes: 20_000);
        string[] shards = Directory.GetFiles(sharded, "model-*-of-*.safetensors");
        Assert.True(shards.Length >= 3, $"expected several shards, got {shards.Length}");
        Assert.True(File.Exists(Path.Combine(sharded, HuggingFaceCheckpoint.IndexFile)));
        Assert.False(File.Exists(Path.Combine(sharded, HuggingFaceCheckpoint.WeightsFile)));
        using DecoderLanguageModel fromShards = HuggingFaceCheckpoint.Load(sharded);
        AssertBitExact(single.state_dict(), fromShards.state_dict());
    }

    [Fact]
    public void A_malformed_config_names_the_file_and_the_field()
    {
        string dir = files.Write("m", "qwen2", tied: true);
        string config = Path.Combine(dir, "config.json");
        JsonObject json = TinyCheckpoints.Config("qwen2", tied: true);
        json["num_attention_heads"] = "four";
        File.WriteAllText(config, json.ToJsonString());
        var ex = Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir));
        Assert.Contains(config, ex.Message);
        Assert.Contains("num_attention_heads", ex.Message);

        json = TinyCheckpoints.Config("qwen2", tied: true);
        json["num_key_value_heads"] = 3;
        File.WriteAllText(config, json.ToJsonString());
        Assert.Contains("num_key_value_heads", Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir)).Message);

        json = TinyCheckpoints.Config("qwen2", tied: true);
        json["model_type"] = "mistral";
        File.WriteAllText(config, json.ToJsonString());
        Assert.Contains("mistral", Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir)).Message);

        File.WriteAllText(config, "{ not json");
        Assert.Contains(config, Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir)).Message);
    }

    [Fact]
    public void A_truncated_safetensors_file_names_the_file_and_the_tensor()
    {
        string dir = files.Write("m", "qwen2", tied: true);
        string weights = Path.Combine(dir, HuggingFaceCheckpoint.WeightsFile);
        SafetensorsEntry last = Safetensors.ReadHeader(weights).Tensors[^1];
        using (var stream = new FileStream(weights, FileMode.Open))
        {
            stream.SetLength(stream.Length - 10);
        }
        var ex = Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir));
        Assert.Equal(weights, ex.Path);
        Assert.Equal(last.Name, ex.Tensor);
        Assert.Contains("truncated", ex.Message);

        using (var stream = new FileStream(weights, FileMode.Open))
        {
            stream.SetLength(5);
        }
        Assert.Contains("too short", Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir)).Message);
    }

    [Fact]
    public void A_missing_tensor_names_the_file_and_the_tensor()
    {
        string dir = files.Write("m", "llama", tied: false);
        string weights = Path.Combine(dir, HuggingFaceCheckpoint.WeightsFile);
        Dictionary<string, Tensor> state = TorchSharp.PyBridge.Safetensors.LoadStateDict(weights);
        state.Remove("model.layers.1.mlp.up_proj.weight");
        TorchSharp.PyBridge.Safetensors.SaveStateDict(weights, state);
        var ex = Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir));
        Assert.Equal("model.layers.1.mlp.up_proj.weight", ex.Tensor);
        Assert.Contains(weights, ex.Message);
    }

    [Fact]
    public void A_tensor_of_the_wrong_shape_names_the_file_and_the_tensor()
    {
        string dir = files.Write("m", "llama", tied: false);
        string weights = Path.Combine(dir, HuggingFaceCheckpoint.WeightsFile);
        Dictionary<string, Tensor> state = TorchSharp.PyBridge.Safetensors.LoadStateDict(weights);
        state["model.norm.weight"] = zeros(31);
        TorchSharp.PyBridge.Safetensors.SaveStateDict(weights, state);
        var ex = Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir));
        Assert.Equal("model.norm.weight", ex.Tensor);
        Assert.Contains("[31]", ex.Message);
    }

    [Fact]
    public void Pickle_checkpoints_are_refused_unless_allowed()
    {
        string dir = files.Write("m", "qwen2", tied: true, seed: 6);
        string weights = Path.Combine(dir, HuggingFaceCheckpoint.WeightsFile);
        Dictionary<string, Tensor> state = TorchSharp.PyBridge.Safetensors.LoadStateDict(weights);
        File.Delete(weights);
        string pickle = Path.Combine(dir, "pytorch_model.bin");
        TorchSharp.PyBridge.PyTorchPickler.PickleStateDict(pickle, state);

        var ex = Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir));
        Assert.Equal(pickle, ex.Path);
        Assert.Contains("--allow-pickle", ex.Message);

        using DecoderLanguageModel model = HuggingFaceCheckpoint.Load(dir, allowPickle: true);
        AssertBitExact(state, model.state_dict());
    }

    [Fact]
    public void A_folder_without_weights_says_what_it_looked_for()
    {
        string dir = files.Write("m", "qwen2", tied: true);
        File.Delete(Path.Combine(dir, HuggingFaceCheckpoint.WeightsFile));
        var ex = Assert.Throws<SafetensorsException>(() => HuggingFaceCheckpoint.Load(dir));
        Assert.Contains(HuggingFaceCheckpoint.WeightsFile, ex.Message);
        Assert.Contains(HuggingFaceCheckpoint.IndexFile, ex.Message);
    }
}
