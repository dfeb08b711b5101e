using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class GenerationTests
{
    [Fact]
    public void Kv_cache_greedy_generation_equals_uncached_generation()
    {
        manual_seed(3);
        var tokenizer = new CharTokenizer();
        var model = new TinyTransformer(new ModelConfig(tokenizer.VocabularySize, DModel: 32, Layers: 2, Heads: 4, MaxPositions: 64));
        model.eval();
        // ragged contexts exercise left padding; random weights rarely emit EOS, so generation runs the full length
        var random = new Random(5);
        int[][] contexts = Enumerable.Range(0, 6).Select(i => new[] { CharTokenizer.Bos }.Concat(tokenizer.Encode(ArithmeticProblem.Random(random, 2 + i % 3, 99).Prompt)).ToArray()).ToArray();
        GenerationResult cached = Generation.Generate(model, contexts, 20, temperature: 0, topP: 1, generator: null, useCache: true);
        GenerationResult uncached = Generation.Generate(model, contexts, 20, temperature: 0, topP: 1, generator: null, useCache: false);
        for (int i = 0; i < contexts.Length; i++)
        {
            Assert.Equal(uncached.Tokens[i], cached.Tokens[i]);
            Assert.Equal(uncached.Finish[i], cached.Finish[i]);
        }
        Assert.True(cached.Tokens.Sum(t => t.Length) > contexts.Length, "generation produced almost nothing");
    }

    [Fact]
    public void Seeded_sampling_is_reproducible_and_stops_at_the_limit()
    {
        manual_seed(4);
        var tokenizer = new CharTokenizer();
        var model = new TinyTransformer(new ModelConfig(tokenizer.VocabularySize, DModel: 16, Layers: 1, Heads: 2, MaxPositions: 64));
        int[][] contexts = [[CharTokenizer.Bos, .. tokenizer.Encode("Q:1+2=")]];
        using var g1 = new TorchSharp.torch.Generator(7, CPU);
        using var g2 = new TorchSharp.torch.Generator(7, CPU);
        GenerationResult a = Generation.Generate(model, contexts, 9, 1.0, 0.9, g1);
        GenerationResult b = Generation.Generate(model, contexts, 9, 1.0, 0.9, g2);
        Assert.Equal(a.Tokens[0], b.Tokens[0]);
        Assert.True(a.Tokens[0].Length <= 9);
        Assert.Equal(a.Tokens[0].Length, a.LogProbs[0].Length);
        Assert.All(a.LogProbs[0], lp => Assert.True(lp <= 0));
    }
}
