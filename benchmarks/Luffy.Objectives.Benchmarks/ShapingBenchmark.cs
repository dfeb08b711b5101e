using BenchmarkDotNet.Attributes;
using Luffy.Objectives.Shaping;
using static TorchSharp.torch;

namespace Luffy.Objectives.Benchmarks;

/// <summary>The regularized shaping f(p) = p/(p+γ): forward + backward through autograd (baseline) vs the analytic derivative.</summary>
[MemoryDiagnoser]
public class ShapingBenchmark
{
    private Tensor logp = null!;
    private readonly RegularizedShaping shaping = new();

    [ParamsSource(nameof(MixedPolicyLossBenchmark.Shapes))]
    public (int B, int T) Shape { get; set; }

    public static IEnumerable<(int B, int T)> Shapes => MixedPolicyLossBenchmark.Shapes;

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        logp = (-rand(Shape.B, Shape.T) * 5).requires_grad_(true);
    }

    [Benchmark(Baseline = true, Description = "Apply + autograd backward")]
    public float Autograd()
    {
        using var scope = NewDisposeScope();
        logp.grad?.zero_();
        shaping.Apply(logp).sum().backward();
        return logp.grad!.sum().item<float>();
    }
}
