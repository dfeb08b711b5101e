using System.Diagnostics;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// `--profile-loss [B T]`: where the time of one mixed-policy loss step goes (default (B, T) = (256, 4096)). The fused variants
/// and the memory floor run round-robin (one of each per round), so that the noise of a shared machine hits them
/// alike; medians and minimums over the rounds, and the fused step against the floor measured in the same rounds.
/// The composed ops run before, on their own (each of their steps sweeps the caches with ~100 MB of temporaries,
/// which would slow whatever ran next).
/// </summary>
internal static class LossProfile
{
    private const int Rounds = 40;

    public static void Run(int b, int t)
    {
        var bench = new MixedPolicyLossBenchmark { Shape = (b, t) };
        bench.Setup();
        var variants = new (string Name, Func<double> Run)[]
        {
            ("fused kernel, forward + backward", () => Time(() => bench.Fused())),
            ("fused + reshaping f(p)/f(p_old)", () => Time(() => bench.FusedReshaped())),
            ("fused + TIS weights", () => Time(() => bench.FusedTis())),
            ("fused kernel, forward only (no graph)", () => Time(() => bench.FusedForwardOnly())),
            ("  of a fused step: forward", () => bench.FusedInParts().Forward),
            ("  of a fused step: backward to .grad", () => bench.FusedInParts().Backward),
            ("memory floor", () => Time(() => bench.MemoryFloor())),
        };
        var composed = new List<double>();
        for (int round = -2; round < 10; round++)
        {
            double ms = Time(() => bench.Composed());
            if (round >= 0)
            {
                composed.Add(ms);
            }
        }
        composed.Sort();
        var times = variants.Select(_ => new List<double>()).ToArray();
        for (int round = -3; round < Rounds; round++)
        {
            for (int v = 0; v < variants.Length; v++)
            {
                double ms = variants[v].Run();
                if (round >= 0)
                {
                    times[v].Add(ms);
                }
            }
        }
        Console.WriteLine($"(B, T) = ({b}, {t}), float32, {Environment.ProcessorCount} cores, {Rounds} rounds");
        Console.WriteLine($"{"composed ops, forward + backward",-40} median {Median(composed),8:F3} ms   min {composed[0],8:F3} ms   (10 runs, alone)");
        for (int v = 0; v < variants.Length; v++)
        {
            times[v].Sort();
            Console.WriteLine($"{variants[v].Name,-40} median {Median(times[v]),8:F3} ms   min {times[v][0],8:F3} ms");
        }
        Console.WriteLine($"fused / floor (medians): {Median(times[0]) / Median(times[^1]):F2}×   composed / fused: {Median(composed) / Median(times[0]):F1}×");
        Console.WriteLine($"reshaping / fused: {Median(times[1]) / Median(times[0]):F2}×   TIS / fused: {Median(times[2]) / Median(times[0]):F2}×");
    }

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static double Median(List<double> sorted) => (sorted[(sorted.Count - 1) / 2] + sorted[sorted.Count / 2]) / 2;
}
