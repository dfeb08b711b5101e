using Luffy.Trainer.Model;
using static TorchSharp.torch;

namespace Luffy.Trainer.Tests;

[Collection("torch")]
public class TinyTransformerTests
{
    /// <summary>
    /// A batch as the trainer builds one: the rows of a prompt group share the left-padded prompt, responses of mixed
    /// lengths are right-padded; two groups of different prompt lengths.
    /// </summary>
    private static (Tensor Ids, Tensor Positions, Tensor Mask, bool[] Real) GroupBatch(int vocabulary, int seed)
    {
        var random = new Random(seed);
        int promptWidth = 6, responseWidth = 7;
        var rows = new List<(long[] Ids, long[] Mask)>();
        foreach (int promptLength in new[] { 6, 4 })
        {
            long[] prompt = [.. Enumerable.Range(0, promptLength).Select(_ => (long)random.Next(1, vocabulary))];
            for (int r = 0; r < 4; r++)
            {
                int responseLength = random.Next(1, responseWidth + 1);
                long[] response = [.. Enumerable.Range(0, responseLength).Select(_ => (long)random.Next(1, vocabulary))];
                long[] ids = [.. Enumerable.Repeat(0L, promptWidth - promptLength), .. prompt, .. response, .. Enumerable.Repeat(0L, responseWidth - responseLength)];
                long[] mask = [.. Enumerable.Repeat(0L, promptWidth - promptLength), .. Enumerable.Repeat(1L, promptLength + responseLength), .. Enumerable.Repeat(0L, responseWidth - responseLength)];
                rows.Add((ids, mask));
            }
        }
        long b = rows.Count, t = promptWidth + responseWidth;
        long[] positions = [.. rows.SelectMany(r => { long n = 0; return r.Mask.Select(m => m == 0 ? 0 : n++); })];
        return (tensor(rows.SelectMany(r => r.Ids).ToArray(), new[] { b, t }), tensor(positions, new[] { b, t }), tensor(rows.SelectMany(r => r.Mask).ToArray(), new[] { b, t }),
            [.. rows.SelectMany(r => r.Mask.Select(m => m != 0))]);
    }

    [Fact]
    public void Shared_prefix_states_and_their_gradients_equal_the_padded_computation()
    {
        manual_seed(11);
        using var model = new TinyTransformer(new ModelConfig(20, DModel: 32, Layers: 2, Heads: 4, MaxPositions: 64));
        (Tensor ids, Tensor positions, Tensor mask, bool[] real) = GroupBatch(20, 3);
        using Tensor realMask = tensor(real).reshape(ids.shape[0], ids.shape[1], 1);
        Tensor weights = randn(ids.shape[0], ids.shape[1], 32);
        using var layout = TokenLayout.Of(ids, positions, mask);
        Assert.True(layout is not null && layout.Slots < real.Count(r => r), "the batch shares prompts, so the layout has fewer slots than real tokens");

        (float[] Hidden, float[][] Gradients) Run(bool padded)
        {
            model.PaddedLayout = padded;
            model.zero_grad();
            Tensor hidden = model.HiddenStates(ids, positions, mask).where(realMask, 0.0f);
            (hidden * weights).sum().backward();
            return (hidden.reshape(-1).data<float>().ToArray(), [.. model.parameters().Where(p => !ReferenceEquals(p, model.OutputWeight) && p.grad is not null).Select(p => p.grad!.reshape(-1).data<float>().ToArray())]);
        }
        (float[] packedHidden, float[][] packedGradients) = Run(padded: false);
        (float[] paddedHidden, float[][] paddedGradients) = Run(padded: true);

        // The two differ only in the summation order of the float32 matrix products (rows of other shapes): after layer
        // norms the states are O(1), so a few units of float32 roundoff (6e-8) times the depth of the sums (≤ 4·32 terms,
        // two layers) stays far below 1e-5 of the largest magnitude; a state or gradient routed to the wrong position is O(1) off.
        AssertClose(paddedHidden, packedHidden, "hidden states");
        Assert.Equal(model.parameters().Count() - 1, paddedGradients.Length); // all but the output projection, which hidden states do not reach
        Assert.Equal(paddedGradients.Length, packedGradients.Length);
        for (int i = 0; i < paddedGradients.Length; i++)
        {
            AssertClose(paddedGradients[i], packedGradients[i], $"gradient of parameter {i}");
        }
        Assert.True(paddedGradients.All(g => g.Any(x => x != 0)), "every parameter receives a gradient");
    }

    [Fact]
    public void A_prefill_into_an_empty_cache_and_the_next_step_equal_the_padded_computation()
    {
        manual_seed(12);
        using var noGrad = no_grad();
        using var model = new TinyTransformer(new ModelConfig(20, DModel: 32, Layers: 2, Heads: 4, MaxPositions: 64));
        (Tensor ids, Tensor positions, Tensor mask, bool[] real) = GroupBatch(20, 4);
        long b = ids.shape[0];
        using Tensor realMask = tensor(real).reshape(b, ids.shape[1], 1);
        Tensor next = randint(1, 20, new long[] { b, 1 });
        Tensor nextPosition = mask.sum(1, keepdim: true);
        Tensor grownMask = cat([mask, ones_like(nextPosition)], 1);

        (float[] Prefill, float[] Step) Run(bool padded)
        {
            model.PaddedLayout = padded;
            using var cache = new KvCache(2);
            Tensor prefill = model.Forward(ids, positions, mask, cache).where(realMask, 0.0f);
            Tensor step = model.Forward(next, nextPosition, grownMask, cache);
            Assert.Equal(ids.shape[1] + 1, cache.Length);
            return (prefill.reshape(-1).data<float>().ToArray(), step.reshape(-1).data<float>().ToArray());
        }
        (float[] layoutPrefill, float[] layoutStep) = Run(padded: false);
        (float[] paddedPrefill, float[] paddedStep) = Run(padded: true);
        AssertClose(paddedPrefill, layoutPrefill, "prefill logits");
        AssertClose(paddedStep, layoutStep, "logits of the step after the prefill (read from the cache)");
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        double scale = Math.Max(1e-30, expected.Max(x => Math.Abs((double)x)));
        double worst = expected.Zip(actual, (e, a) => Math.Abs((double)e - a)).Max();
        Assert.True(worst <= 1e-5 * scale, $"{what}: largest difference {worst:G3} against a scale of {scale:G3}");
    }
}
