using System.Diagnostics;
using System.Globalization;
using Luffy.Objectives.Losses;
using Luffy.Objectives.Shaping;
using static TorchSharp.torch;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// `--loss-steps SET KERNEL N [metrics]`: N forward + backward steps of one option set at (256, 4096), float32, two
/// threads, after 3 warm-up steps, with the median and minimum time (optionally reading the metrics each step). For
/// development: `scripts/count-aten-ops.sh` counts the ATen dispatches of such runs with a perf uprobe (N = 10 and 30,
/// the difference / 20 is one step's count); nothing here is a test or runs in CI. The inputs are the loss
/// benchmark's (<see cref="MixedPolicyLossBenchmark.Setup"/>): log-probs in (−3, 0], old = log p + 0.1·N(0, 1), one
/// advantage per row, 90% of tokens in the response mask, the first B/8 rows off-policy for the sets with traces (luffy,
/// ppo, reshaped), TIS weights in [0.5, 1.2] for ppo-tis.
/// </summary>
internal static class LossSteps
{
    /// <summary>
    /// The option sets: LUFFY's main run (no entropy, as in the official function), PPO clip with γ = 0.1 shaping (the
    /// official function's defaults), the on-policy reshaping f(p)/f(p_old) with dual clip (the reshaping variant of
    /// <c>--profile-loss</c>), GSPO, CISPO, GRPO with TIS weights, SAPO, GPG, GMPO (verl presets).
    /// </summary>
    public static readonly string[] Sets = ["luffy", "ppo", "reshaped", "gspo", "cispo", "ppo-tis", "sapo", "gpg", "gmpo"];

    public static void Run(string set, LossKernel kernel, int steps, bool readMetrics)
    {
        const int b = 256, t = 4096;
        set_num_threads(2);
        var bench = new MixedPolicyLossBenchmark { Shape = (b, t) };
        bench.Setup();
        (Tensor logp, Tensor old, Tensor advantages, Tensor mask, Tensor off, Tensor weights) = bench.Inputs;
        PolicyLossOptions options = set switch
        {
            "luffy" => PolicyLossOptions.LuffyMainRun with { EntropyCoefficient = 0 },
            "ppo" => new PolicyLossOptions { OnPolicy = new ClippedSurrogate(), Shaping = new RegularizedShaping(0.1), MetricScope = MetricScope.AllResponseTokens },
            "reshaped" => new PolicyLossOptions { OnPolicy = new ClippedSurrogate { DualClip = 3, Ratio = new RegularizedRatio(0.1) } },
            "gspo" => PolicyLossOptions.Gspo,
            "cispo" => PolicyLossOptions.Cispo,
            "ppo-tis" => PolicyLossOptions.Grpo,
            "sapo" => PolicyLossOptions.Sapo,
            "gpg" => PolicyLossOptions.Gpg,
            "gmpo" => PolicyLossOptions.Gmpo,
            _ => throw new ArgumentException($"unknown set {set}; expected one of {string.Join(", ", Sets)}", nameof(set)),
        };
        var loss = new MixedPolicyLoss(options with { Kernel = kernel });
        bool traces = set is "luffy" or "ppo" or "reshaped";
        double Step()
        {
            using var scope = NewDisposeScope();
            logp.grad = null;
            var clock = Stopwatch.StartNew();
            using PolicyLossResult result = loss.Compute(new PolicyLossInputs
            {
                LogProbs = logp, OldLogProbs = old, Advantages = advantages, ResponseMask = mask,
                OffPolicyMask = traces ? off : null, RolloutWeights = set == "ppo-tis" ? weights : null,
            });
            result.Loss.backward();
            if (readMetrics)
            {
                _ = result.Metrics.Loss;
            }
            return clock.Elapsed.TotalMilliseconds;
        }
        if (steps == 0)
        {
            return;
        }
        for (int i = 0; i < 3; i++)
        {
            Step();
        }
        double[] times = [.. Enumerable.Range(0, steps).Select(_ => Step()).Order()];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{set} {kernel} fwd+bwd ({b}, {t}) 2 threads{(readMetrics ? " + metrics" : "")}: median {times[steps / 2]:F2} ms min {times[0]:F2} ms ({steps} steps)"));
    }
}
