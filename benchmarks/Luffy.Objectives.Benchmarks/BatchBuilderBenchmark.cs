using BenchmarkDotNet.Attributes;
using Luffy.Objectives.Batching;
using Luffy.Objectives.Losses;
using TorchSharp;
using static TorchSharp.torch;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// Building a batch of 512 sequences × 4,096 response tokens (64 prompts × 8 samples, one full trace each) next to
/// one mixed-policy loss step (forward + backward) of the same (B, T): the builder's cost relative to the loss.
/// </summary>
[MemoryDiagnoser]
public class BatchBuilderBenchmark
{
    private PromptInput[] prompts = [];
    private MixedBatchBuilder builder = null!;
    private Tensor logp = null!, old = null!, advantages = null!, mask = null!, offMask = null!;
    private readonly MixedPolicyLoss loss = new(PolicyLossOptions.LuffyMainRun with { EntropyCoefficient = 0 });

    [Params(4096)]
    public int T { get; set; }

    public int B => 512;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(0);
        int t = T;
        builder = new MixedBatchBuilder(new BatchBuilderOptions { MaxResponseLength = t, MaxPromptLength = 512, EosTokenIds = [2], VocabularySize = 152_000 });
        prompts = Enumerable.Range(0, B / 8).Select(p =>
        {
            int[] prompt = Enumerable.Range(0, rng.Next(64, 512)).Select(_ => rng.Next(3, 152_000)).ToArray();
            var trace = new OffPolicyTrace(Enumerable.Range(0, rng.Next(t / 4, t)).Select(_ => rng.Next(3, 152_000)).ToArray());
            var samples = Enumerable.Range(0, 7).Select(_ =>
            {
                int n = rng.Next(t / 8, t + 1);
                int[] generated = Enumerable.Range(0, n).Select(_ => rng.Next(3, 152_000)).ToArray();
                float[] lp = Enumerable.Range(0, n).Select(_ => -(float)rng.NextDouble()).ToArray();
                return SampleInput.OnPolicy(generated, lp, n == t ? FinishReason.Length : FinishReason.Eos, reward: rng.Next(2));
            }).Append(SampleInput.FullTrace(trace, reward: 1)).ToArray();
            return new PromptInput(p, prompt, samples);
        }).ToArray();

        manual_seed(0);
        logp = (-rand(B, t) * 3).requires_grad_(true);
        old = logp.detach() + 0.05 * randn(B, t);
        advantages = randn(B, 1).expand(B, t).contiguous();
        mask = rand(B, t).lt(0.9);
        offMask = zeros(B, t, dtype: ScalarType.Bool);
        offMask.narrow(0, 0, B / 8).fill_(true);
    }

    [Benchmark(Baseline = true, Description = "one loss step (fwd+bwd), 512 x T")]
    public double LossStep()
    {
        using var scope = NewDisposeScope();
        logp.grad?.zero_();
        using PolicyLossResult result = loss.Compute(new PolicyLossInputs { LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask, OffPolicyMask = offMask });
        result.Loss.backward();
        return result.Loss.item<float>();
    }

    [Benchmark(Description = "build batch, 512 x T")]
    public int Build()
    {
        using TrainingBatch batch = builder.Build(prompts);
        return batch.Count;
    }
}
