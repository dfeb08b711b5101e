using Luffy.Trainer.Arithmetic;
using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class GenerationTests
{
    /// <summary>BOS + the prompts of <paramref name="count"/> random problems of levels 2, 3, 4, 2, … (ragged lengths).</summary>
    private static int[][] Prompts(CharTokenizer tokenizer, int seed, int count)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(i => new[] { CharTokenizer.Bos }.Concat(tokenizer.Encode(ArithmeticProblem.Random(random, 2 + i % 3, 99).Prompt)).ToArray())];
    }

    [Fact]
    public void Kv_cache_greedy_generation_equals_uncached_generation()
    {
        manual_seed(3);
        var tokenizer = new CharTokenizer();
        var model = new TinyTransformer(new ModelConfig(tokenizer.VocabularySize, DModel: 32, Layers: 2, Heads: 4, MaxPositions: 64));
        model.eval();
        // ragged contexts exercise left padding; random weights rarely emit EOS, so generation runs the full length
        int[][] contexts = Prompts(tokenizer, seed: 5, count: 6);
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
    public void Each_row_of_a_batch_is_generated_as_it_would_be_alone_while_finished_rows_leave_the_batch()
    {
        manual_seed(6);
        var tokenizer = new CharTokenizer();
        var model = new TinyTransformer(new ModelConfig(tokenizer.VocabularySize, DModel: 32, Layers: 2, Heads: 4, MaxPositions: 64));
        model.eval();
        using (no_grad())
        {
            foreach (var p in model.parameters())
            {
                p.mul_(3); // larger random weights: outputs that differ by context instead of one repeated pattern
            }
        }
        int[][] contexts = Prompts(tokenizer, seed: 8, count: 16);
        // the end token is the one whose first occurrence in the rows' unstopped greedy outputs varies most, so rows
        // finish at different steps and the batch sheds its finished rows several times
        GenerationResult unstopped = Generation.Generate(model, contexts, 16, temperature: 0, topP: 1, generator: null, eosTokenIds: [-1]);
        int end = Enumerable.Range(0, tokenizer.VocabularySize)
            .MaxBy(id => unstopped.Tokens.Select(t => Array.IndexOf(t, id)).Where(k => k >= 0).Distinct().Count());
        int[] ends = [end];
        foreach (bool useCache in new[] { true, false })
        {
            GenerationResult batch = Generation.Generate(model, contexts, 16, temperature: 0, topP: 1, generator: null, useCache, eosTokenIds: ends);
            int[] lengths = [.. batch.Tokens.Select(t => t.Length)];
            Assert.True(lengths.Distinct().Count() >= 3 && lengths.Count(l => l < 16) >= 4, $"rows should finish at different steps: {string.Join(",", lengths)}");
            for (int i = 0; i < contexts.Length; i++)
            {
                GenerationResult alone = Generation.Generate(model, [contexts[i]], 16, temperature: 0, topP: 1, generator: null, useCache, eosTokenIds: ends);
                Assert.Equal(alone.Tokens[0], batch.Tokens[i]);
                Assert.Equal(alone.Finish[0], batch.Finish[i]);
                // log-probs differ only by float32 sums in other orders (other batch shapes block the GEMMs differently,
                // and the ISA picks other kernels): with the tripled weights the logits reach tens, and a dot product of
                // n ≤ 128 terms in another order can differ by up to n·2^−24·Σ|terms| ≈ 4e-3 there, a log-softmax by
                // twice that, so 1e-2 holds on any CPU (measured worst on an Intel Xeon: 1.0e-4 with AVX-512, 3.4e-4
                // with AVX2 kernels, 1.5e-4 with SSE4.2; a former bound of 2e-4 failed with AVX2). A row read from
                // another row's state differs in its tokens (compared exactly) and by O(1) here.
                Assert.All(alone.LogProbs[0].Zip(batch.LogProbs[i]), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-2, $"row {i}: {p.First} vs {p.Second}"));
            }
        }
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
