using Luffy.Trainer.HuggingFace;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests.HuggingFace;

[Collection("torch")]
public sealed class SafetensorsTests : IDisposable
{
    private readonly TinyCheckpoints files = new();

    public void Dispose() => files.Dispose();

    [Fact]
    public void Every_supported_dtype_round_trips_bit_exactly_with_metadata()
    {
        string path = Path.Combine(files.Folder, "all.safetensors");
        manual_seed(1);
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 4),
            ["f64"] = randn(2, dtype: ScalarType.Float64),
            ["bf16"] = randn(5).to_type(ScalarType.BFloat16),
            ["f16"] = randn(5).to_type(ScalarType.Float16),
            ["i64"] = tensor(new long[] { long.MinValue, -1, long.MaxValue }),
            ["i32"] = tensor(new[] { 7, -7 }),
            ["u8"] = tensor(new byte[] { 0, 255 }),
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(3.5f),
            ["empty"] = zeros(0, 4),
        };
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["note"] = "tiny" });
        (IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string> metadata) = Safetensors.ReadHeader(path);
        Assert.Equal("pt", metadata["format"]);
        Assert.Equal("tiny", metadata["note"]);
        Assert.Equal(tensors.Count, entries.Count);
        Dictionary<string, Tensor> loaded = Safetensors.Load(path);
        foreach ((string name, Tensor t) in tensors)
        {
            Assert.Equal(t.dtype, loaded[name].dtype);
            Assert.Equal(t.shape, loaded[name].shape);
            Assert.True(t.bytes.SequenceEqual(loaded[name].bytes), name);
        }
        // the header is padded to 8 bytes, as the format asks
        Assert.Equal(0, (long)BitConverter.ToUInt64(File.ReadAllBytes(path).AsSpan(0, 8)) % 8);
    }

    [Fact]
    public void Loading_selected_tensors_names_a_missing_one()
    {
        string path = Path.Combine(files.Folder, "two.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = ones(2), ["b"] = zeros(3) });
        Assert.Equal(["b"], Safetensors.Load(path, ["b"]).Keys);
        var ex = Assert.Throws<SafetensorsException>(() => Safetensors.Load(path, ["c"]));
        Assert.Equal("c", ex.Tensor);
        Assert.Equal(path, ex.Path);
    }

    [Fact]
    public void Inconsistent_headers_are_rejected_before_any_data_is_read()
    {
        string path = Path.Combine(files.Folder, "bad.safetensors");
        void Write(string header)
        {
            byte[] json = System.Text.Encoding.UTF8.GetBytes(header);
            using var stream = File.Create(path);
            stream.Write(BitConverter.GetBytes((ulong)json.Length));
            stream.Write(json);
            stream.Write(new byte[16]);
        }
        Write("""{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}""");
        Assert.Contains("12 bytes", Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(path)).Message);
        Write("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}""");
        Assert.Contains("overlaps", Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(path)).Message);
        Write("""{"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}""");
        Assert.Equal("a", Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(path)).Tensor);
        Write("""{"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}""");
        Assert.Contains("outside", Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(path)).Message);
        Write("""{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}""");
        Assert.Contains("negative", Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(path)).Message);
        Write("""{"a": {"dtype": "F32", "shape": [1]}}""");
        Assert.Contains("data_offsets", Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(path)).Message);
        Write("""not json at all""");
        Assert.Contains("not a JSON object", Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(path)).Message);
        using (var stream = File.Create(path))
        {
            stream.Write(BitConverter.GetBytes(1_000_000UL));
            stream.Write(new byte[10]);
        }
        Assert.Contains("declares a 1000000-byte header", Assert.Throws<SafetensorsException>(() => Safetensors.ReadHeader(path)).Message);
    }
}
