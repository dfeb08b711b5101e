using Luffy.Trainer.HuggingFace;
using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests.HuggingFace;

[Collection("torch")]
public class DecoderLanguageModelTests : IDisposable
{
    private readonly TinyCheckpoints files = new();

    public void Dispose() => files.Dispose();

    [Theory]
    [InlineData("qwen2", true)]
    [InlineData("qwen2", false)]
    [InlineData("llama", false)]
    [InlineData("llama", true)]
    public void The_forward_pass_equals_an_independent_implementation(string type, bool tied)
    {
        string dir = files.Write("m", type, tied);
        using DecoderLanguageModel model = HuggingFaceCheckpoint.Load(dir);
        var reference = new ReferenceDecoder(model.Config, model.state_dict());
        int[][] sequences = [[256, 5, 77, 120, 33, 9, 200, 1], [256, 42, 42, 42]];
        foreach (int[] ids in sequences)
        {
            double[][] expected = reference.Logits(ids);
            using var scope = NewDisposeScope();
            Tensor input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
            Tensor logits = model.Forward(input, arange(ids.Length, dtype: ScalarType.Int64).unsqueeze(0), ones_like(input)).squeeze(0).to_type(ScalarType.Float64);
            double[] actual = logits.data<double>().ToArray();
            double scale = expected.SelectMany(r => r).Max(Math.Abs);
            for (int i = 0; i < ids.Length; i++)
            {
                for (int v = 0; v < model.Config.VocabularySize; v++)
                {
                    Assert.True(Math.Abs(actual[i * model.Config.VocabularySize + v] - expected[i][v]) <= 2e-5 * scale,
                        $"{type} tied={tied}: position {i}, token {v}: {actual[i * model.Config.VocabularySize + v]} vs {expected[i][v]}");
                }
            }
        }
    }

    [Theory]
    [InlineData("qwen2", true)]
    [InlineData("llama", false)]
    public void A_batch_of_shared_prompts_and_padding_gives_each_row_its_own_logits_and_the_padded_gradients(string type, bool tied)
    {
        string dir = files.Write("m", type, tied);
        using DecoderLanguageModel model = HuggingFaceCheckpoint.Load(dir);
        var reference = new ReferenceDecoder(model.Config, model.state_dict());
        // two rows of one left-padded prompt with responses of different lengths (the second right-padded), and a row
        // of another prompt: the forward computes the shared prompt once and no padding
        long[][] rows = [[0, 256, 5, 77, 120, 33, 9], [0, 256, 5, 77, 120, 42, 0], [256, 42, 42, 7, 8, 0, 0]];
        long[][] masks = [[0, 1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0]];
        long t = rows[0].Length, v = model.Config.VocabularySize;
        Tensor ids = tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, t]);
        Tensor mask = tensor(masks.SelectMany(r => r).ToArray(), [rows.Length, t]);
        Tensor positions = (mask.cumsum(1) - 1).clamp_min(0);
        using (var layout = TokenLayout.Of(ids, positions, mask))
        {
            // 6 states for the first row, 1 more (42) for the second, 4 for the third (its first token, 256, is shared too)
            Assert.True(layout is not null && layout.Slots == 6 + 1 + 4, "the prompt 256 5 77 120 is shared, padding is left out");
        }
        Tensor weights = randn(rows.Length, t, v, generator: new Generator(3));

        (double[] Logits, float[][] Gradients) Run(bool padded)
        {
            model.PaddedLayout = padded;
            model.zero_grad();
            Tensor logits = model.Forward(ids, positions, mask);
            (logits * weights * mask.unsqueeze(-1)).sum().backward();
            return (logits.to_type(ScalarType.Float64).reshape(-1).data<double>().ToArray(), [.. model.parameters().Select(p => p.grad!.reshape(-1).data<float>().ToArray())]);
        }
        (double[] layoutLogits, float[][] layoutGradients) = Run(padded: false);
        (_, float[][] paddedGradients) = Run(padded: true);

        // each row's real positions against the independent float64 implementation run on that row alone (the
        // tolerance of the single-sequence test above)
        for (int row = 0; row < rows.Length; row++)
        {
            int[] real = [.. rows[row].Where((_, j) => masks[row][j] != 0).Select(x => (int)x)];
            double[][] expected = reference.Logits(real);
            double scale = expected.SelectMany(r => r).Max(Math.Abs);
            int[] columns = [.. Enumerable.Range(0, (int)t).Where(j => masks[row][j] != 0)];
            for (int k = 0; k < real.Length; k++)
            {
                for (int token = 0; token < v; token++)
                {
                    double actual = layoutLogits[(row * t + columns[k]) * v + token];
                    Assert.True(Math.Abs(actual - expected[k][token]) <= 2e-5 * scale, $"{type}: row {row}, position {columns[k]}, token {token}: {actual} vs {expected[k][token]}");
                }
            }
        }
        // gradients against the padded computation: float32 sums of other shapes, relative to each gradient's scale
        for (int i = 0; i < paddedGradients.Length; i++)
        {
            double scale = Math.Max(1e-30, paddedGradients[i].Max(x => Math.Abs((double)x)));
            double worst = paddedGradients[i].Zip(layoutGradients[i], (a, b) => Math.Abs((double)a - b)).Max();
            Assert.True(worst <= 1e-4 * scale, $"{type}: gradient of parameter {i}: largest difference {worst:G3} against {scale:G3}");
        }
    }

    [Fact]
    public void Left_padding_does_not_change_a_sequence_logits()
    {
        string dir = files.Write("m", "qwen2", tied: true);
        using DecoderLanguageModel model = HuggingFaceCheckpoint.Load(dir);
        using var scope = NewDisposeScope();
        long[] ids = [256, 5, 77, 120];
        Tensor alone = model.Forward(tensor(ids, [1, 4]), arange(4, dtype: ScalarType.Int64).unsqueeze(0), ones(1, 4, dtype: ScalarType.Int64));
        Tensor padded = model.Forward(tensor(new long[] { 0, 0, 256, 5, 77, 120 }, [1, 6]), tensor(new long[] { 0, 0, 0, 1, 2, 3 }, [1, 6]), tensor(new long[] { 0, 0, 1, 1, 1, 1 }, [1, 6]));
        Assert.True(allclose(alone, padded.narrow(1, 2, 4), rtol: 1e-5, atol: 1e-5));
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("llama")]
    public void Kv_cache_greedy_generation_equals_uncached_generation(string type)
    {
        string dir = files.Write("m", type, tied: type == "qwen2");
        using DecoderLanguageModel model = HuggingFaceCheckpoint.Load(dir);
        model.eval();
        int[][] contexts = [[256, 5, 77], [256, 9, 10, 11, 12, 13], [256]];
        GenerationResult cached = Generation.Generate(model, contexts, 12, 0, 1, null, useCache: true, eosTokenIds: model.Config.EosTokenIds, padTokenId: 0);
        GenerationResult uncached = Generation.Generate(model, contexts, 12, 0, 1, null, useCache: false, eosTokenIds: model.Config.EosTokenIds, padTokenId: 0);
        for (int i = 0; i < contexts.Length; i++)
        {
            Assert.Equal(uncached.Tokens[i], cached.Tokens[i]);
            Assert.Equal(uncached.Finish[i], cached.Finish[i]);
        }
        Assert.True(cached.Tokens.Sum(t => t.Length) >= 12, "generation produced almost nothing");
    }

    [Fact]
    public void Bfloat16_models_run_and_stay_close_to_float32()
    {
        string dir = files.Write("m", "llama", tied: false);
        using DecoderLanguageModel full = HuggingFaceCheckpoint.Load(dir);
        using DecoderLanguageModel half = HuggingFaceCheckpoint.Load(dir, ScalarType.BFloat16);
        Assert.All(half.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var scope = NewDisposeScope();
        Tensor ids = tensor(new long[] { 256, 5, 77, 120 }, [1, 4]);
        Tensor positions = arange(4, dtype: ScalarType.Int64).unsqueeze(0);
        Tensor a = full.Forward(ids, positions, ones_like(ids));
        Tensor b = half.Forward(ids, positions, ones_like(ids)).to_type(ScalarType.Float32);
        double relative = ((a - b).abs().max() / a.abs().max()).item<float>();
        Assert.True(relative < 0.1, $"bfloat16 logits differ by {relative:P1} of the largest logit");
        Assert.Equal(a.argmax(-1).data<long>().ToArray()[0], b.argmax(-1).data<long>().ToArray()[0]);
    }

    [Fact]
    public void Parameter_names_are_those_of_the_hugging_face_checkpoints()
    {
        using var model = new DecoderLanguageModel(TransformerConfig.FromJson(TinyCheckpoints.Config("qwen2", tied: false), "config.json"));
        string[] names = model.state_dict().Keys.ToArray();
        Assert.Contains("model.embed_tokens.weight", names);
        Assert.Contains("model.layers.1.self_attn.q_proj.bias", names);
        Assert.DoesNotContain("model.layers.1.self_attn.o_proj.bias", names);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", names);
        Assert.Contains("model.layers.0.post_attention_layernorm.weight", names);
        Assert.Contains("model.norm.weight", names);
        Assert.Contains("lm_head.weight", names);
        Assert.True(3 + 2 * 12 == names.Length, string.Join(" ", names));
    }
}
