using BenchmarkDotNet.Attributes;
using Luffy.Objectives.Advantages;
using static TorchSharp.torch;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// GRPO group advantages broadcast to (B, T) tokens: a straightforward per-group loop of tensor ops, as reference
/// implementations write it (baseline), vs the library's vectorized estimator.
/// </summary>
[MemoryDiagnoser]
public class AdvantageBenchmark
{
    private Tensor rewards = null!, groupIds = null!, mask = null!;
    private long[] hostGroupIds = [];
    private readonly GroupNormalizedAdvantage estimator = new();

    [ParamsSource(nameof(Shapes))]
    public (int B, int T) Shape { get; set; }

    public static IEnumerable<(int B, int T)> Shapes => MixedPolicyLossBenchmark.Shapes;

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        (int b, int t) = Shape;
        rewards = randint(2, new long[] { b }).to_type(ScalarType.Float32);
        hostGroupIds = Enumerable.Range(0, b).Select(i => (long)(i / 8)).ToArray();
        groupIds = tensor(hostGroupIds);
        mask = rand(b, t).lt(0.9);
    }

    [Benchmark(Baseline = true, Description = "per-group loop")]
    public float Loop()
    {
        using var scope = NewDisposeScope();
        Tensor advantages = zeros_like(rewards);
        foreach (long id in hostGroupIds.Distinct())
        {
            Tensor members = groupIds.eq(id);
            Tensor r = rewards.masked_select(members);
            Tensor normalized = r.numel() > 1 ? (r - r.mean()) / (r.std() + 1e-6) : zeros_like(r);
            advantages.masked_scatter_(members, normalized);
        }
        return (advantages.unsqueeze(1) * mask).sum().item<float>();
    }

    [Benchmark(Description = "GroupNormalizedAdvantage + ToTokens")]
    public float Library()
    {
        using var scope = NewDisposeScope();
        using AdvantageResult result = estimator.Compute(new RewardBatch(rewards, groupIds));
        return result.ToTokens(mask).sum().item<float>();
    }
}
