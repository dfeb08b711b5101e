using BenchmarkDotNet.Attributes;
using Luffy.Objectives.Tokens;
using static TorchSharp.torch;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// Token log-probs + entropy, forward + backward, at a reduced B·T (2 × 128 positions, H = 256): the naive path
/// (materialize logits = h·Wᵀ, log_softmax, gather) vs chunked logits vs chunked hidden states (no logits at all).
/// Peak memory of the same variants is measured by `--peak-memory` (separate processes).
/// </summary>
[MemoryDiagnoser]
public class TokenStatisticsBenchmark
{
    public const int B = 2, T = 128, H = 256, Chunk = 32;
    private Tensor hidden = null!, weight = null!, ids = null!;

    public static IEnumerable<int> Vocabularies => Program.Quick ? [32_000] : [32_000, 152_000];

    [ParamsSource(nameof(Vocabularies))]
    public int V { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        hidden = randn(B, T, H).requires_grad_(true);
        weight = (randn(V, H) * 0.05).requires_grad_(true);
        ids = randint(V, new long[] { B, T });
    }

    public static double Naive(Tensor hidden, Tensor weight, Tensor ids)
    {
        using var scope = NewDisposeScope();
        Tensor logits = hidden.matmul(weight.t());
        Tensor logSoftmax = logits.log_softmax(-1);
        Tensor logp = logSoftmax.gather(-1, ids.unsqueeze(-1)).squeeze(-1);
        Tensor entropy = -(logSoftmax.exp() * logSoftmax).sum(-1);
        (logp.sum() + 0.01 * entropy.sum()).backward();
        return logp.sum().item<float>();
    }

    public static double ChunkedLogits(Tensor hidden, Tensor weight, Tensor ids)
    {
        using var scope = NewDisposeScope();
        using TokenStatisticsResult r = TokenStatistics.Compute(hidden.matmul(weight.t()), ids, Chunk);
        (r.LogProbs.sum() + 0.01 * r.Entropy.sum()).backward();
        return r.LogProbs.sum().item<float>();
    }

    public static double ChunkedHidden(Tensor hidden, Tensor weight, Tensor ids)
    {
        using var scope = NewDisposeScope();
        using TokenStatisticsResult r = TokenStatistics.FromHiddenStates(hidden, weight, ids, Chunk);
        (r.LogProbs.sum() + 0.01 * r.Entropy.sum()).backward();
        return r.LogProbs.sum().item<float>();
    }

    private void ZeroGrad()
    {
        hidden.grad?.zero_();
        weight.grad?.zero_();
    }

    [Benchmark(Baseline = true, Description = "naive: logits + log_softmax + gather")]
    public double NaivePath()
    {
        ZeroGrad();
        return Naive(hidden, weight, ids);
    }

    [Benchmark(Description = "chunked logits (TokenStatistics.Compute)")]
    public double ChunkedLogitsPath()
    {
        ZeroGrad();
        return ChunkedLogits(hidden, weight, ids);
    }

    [Benchmark(Description = "chunked hidden states (FromHiddenStates)")]
    public double ChunkedHiddenPath()
    {
        ZeroGrad();
        return ChunkedHidden(hidden, weight, ids);
    }
}
