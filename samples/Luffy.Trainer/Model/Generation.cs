using Luffy.Objectives.Batching;
using Luffy.Trainer.Arithmetic;
using static TorchSharp.torch;

namespace Luffy.Trainer.Model;

/// <summary>What generation produced for each context.</summary>
public sealed record GenerationResult(int[][] Tokens, float[][] LogProbs, FinishReason[] Finish);

/// <summary>
/// Batched sampling with temperature and top-p, stopping at EOS or the length limit, with or without a KV cache.
/// Finished rows leave the batch (cache, masks, positions) once a quarter of the rows still computed has finished, so
/// late steps compute only the rows that are still writing; each row's tokens are those it would get alone (greedy),
/// and a seeded generator gives the same samples for the same call (its numbers are drawn for the rows still computed).
/// </summary>
public static class Generation
{
    /// <param name="model">The policy.</param>
    /// <param name="contexts">Prompt (+ forced prefix) token ids per row.</param>
    /// <param name="maxNewTokens">Length limit of the generated part.</param>
    /// <param name="temperature">0 = greedy; otherwise logits are divided by it.</param>
    /// <param name="topP">Nucleus sampling mass in (0, 1]; 1 = off.</param>
    /// <param name="generator">Seeded generator for sampling (null = global RNG).</param>
    /// <param name="useCache">Use the KV cache (default) or recompute the whole sequence every step.</param>
    /// <param name="eosTokenIds">Tokens that end a sequence (default: the arithmetic task's EOS).</param>
    /// <param name="padTokenId">Token fed for finished rows (default: the arithmetic task's PAD).</param>
    public static GenerationResult Generate(CausalLanguageModel model, IReadOnlyList<int[]> contexts, int maxNewTokens, double temperature, double topP, Generator? generator, bool useCache = true, IReadOnlyCollection<int>? eosTokenIds = null, int padTokenId = CharTokenizer.Pad)
    {
        IReadOnlyCollection<int> eos = eosTokenIds ?? [CharTokenizer.Eos];
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Device device = model.parameters().First().device;
        int b = contexts.Count;
        int length = contexts.Max(c => c.Length);
        var ids = new long[b * length];
        var mask = new long[b * length];
        for (int i = 0; i < b; i++)
        {
            int offset = length - contexts[i].Length;
            for (int j = 0; j < contexts[i].Length; j++)
            {
                ids[i * length + offset + j] = contexts[i][j];
                mask[i * length + offset + j] = 1;
            }
        }
        Tensor allIds = tensor(ids, new long[] { b, length }).to(device);
        Tensor keyMask = tensor(mask, new long[] { b, length }).to(device);
        Tensor positions = (keyMask.cumsum(1) - 1).clamp_min(0);
        Tensor nextPosition = keyMask.sum(1, keepdim: true);

        var tokens = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var logProbs = Enumerable.Range(0, b).Select(_ => new List<float>()).ToArray();
        var finished = new bool[b];
        using var cache = useCache ? new KvCache(model.Layers) : null;
        Tensor logits = model.Forward(allIds, positions, keyMask, cache).select(1, -1);
        // the rows still computed, by their index in the contexts: finished rows are fed padding until a quarter of the
        // computed rows has finished, then the batch (cache, masks, positions) keeps only the live ones
        int[] active = [.. Enumerable.Range(0, b)];

        for (int step = 0; step < maxNewTokens && !finished.All(f => f); step++)
        {
            using var stepScope = NewDisposeScope();
            (Tensor next, Tensor nextLogProbs) = Sample(logits, temperature, topP, generator);
            long[] nextIds = next.cpu().data<long>().ToArray();
            float[] nextLp = nextLogProbs.cpu().data<float>().ToArray();
            for (int a = 0; a < active.Length; a++)
            {
                int i = active[a];
                if (finished[i])
                {
                    nextIds[a] = padTokenId;
                    continue;
                }
                tokens[i].Add((int)nextIds[a]);
                logProbs[i].Add(nextLp[a]);
                finished[i] = eos.Contains((int)nextIds[a]);
            }
            if (step == maxNewTokens - 1 || finished.All(f => f))
            {
                break;
            }
            int[] kept = [.. Enumerable.Range(0, active.Length).Where(a => !finished[active[a]])];
            if (kept.Length <= active.Length * 3 / 4)
            {
                Tensor rows = tensor(kept.Select(a => (long)a).ToArray(), ScalarType.Int64, device);
                cache?.KeepRows(rows);
                keyMask = Keep(keyMask, rows);
                nextPosition = Keep(nextPosition, rows);
                if (!useCache)
                {
                    allIds = Keep(allIds, rows);
                    positions = Keep(positions, rows);
                }
                nextIds = [.. kept.Select(a => nextIds[a])];
                active = [.. kept.Select(a => active[a])];
            }
            int n = active.Length;
            long[] live = [.. active.Select(i => finished[i] ? 0L : 1L)];
            Tensor newIds = tensor(nextIds, new long[] { n, 1 }).to(device);
            Tensor liveMask = tensor(live, new long[] { n, 1 }).to(device);
            Tensor newMask = cat([keyMask, liveMask], 1).MoveToOuterDisposeScope();
            keyMask.Dispose();
            keyMask = newMask;
            Tensor newPositions = nextPosition.clone();
            nextPosition.add_(liveMask);
            if (useCache)
            {
                logits = model.Forward(newIds, newPositions, keyMask, cache).select(1, -1).MoveToOuterDisposeScope();
            }
            else
            {
                Tensor grownIds = cat([allIds, newIds], 1).MoveToOuterDisposeScope();
                Tensor grownPositions = cat([positions, newPositions], 1).MoveToOuterDisposeScope();
                allIds.Dispose();
                positions.Dispose();
                allIds = grownIds;
                positions = grownPositions;
                logits = model.Forward(allIds, positions, keyMask).select(1, -1).MoveToOuterDisposeScope();
            }
        }

        FinishReason[] finish = finished.Select(f => f ? FinishReason.Eos : FinishReason.Length).ToArray();
        return new GenerationResult(tokens.Select(t => t.ToArray()).ToArray(), logProbs.Select(l => l.ToArray()).ToArray(), finish);
    }

    /// <summary>The <paramref name="rows"/> of a loop-held tensor, which replace it (it is disposed): in the scope outside the step's, as it was.</summary>
    private static Tensor Keep(Tensor t, Tensor rows)
    {
        Tensor kept = t.index_select(0, rows).MoveToOuterDisposeScope();
        t.Dispose();
        return kept;
    }

    private static (Tensor Next, Tensor LogProbs) Sample(Tensor logits, double temperature, double topP, Generator? generator)
    {
        if (temperature <= 0)
        {
            Tensor greedy = logits.argmax(-1);
            return (greedy, logits.log_softmax(-1).gather(-1, greedy.unsqueeze(-1)).squeeze(-1).to_type(ScalarType.Float32));
        }
        Tensor scaled = logits / temperature;
        Tensor logSoftmax = scaled.log_softmax(-1);
        Tensor probabilities = logSoftmax.exp();
        if (topP < 1)
        {
            (Tensor sorted, Tensor order) = probabilities.sort(-1, descending: true);
            Tensor cumulative = sorted.cumsum(-1);
            Tensor drop = (cumulative - sorted).gt(topP);
            sorted = sorted.masked_fill(drop, 0);
            probabilities = zeros_like(probabilities).scatter(-1, order, sorted);
        }
        Tensor next = multinomial(probabilities, 1, false, generator).squeeze(-1);
        return (next, logSoftmax.gather(-1, next.unsqueeze(-1)).squeeze(-1).to_type(ScalarType.Float32));
    }
}
