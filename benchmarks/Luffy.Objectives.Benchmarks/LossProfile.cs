using System.Diagnostics;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// `--profile-loss [B T]`: where the time of one mixed-policy loss step goes (default (B, T) = (256, 4096)). The fused variants
/// and the memory floors (the TIS variant's reads its weights too) run round-robin (one of each per round), so that the
/// noise of a shared machine hits them alike; medians and minimums over the rounds, and each variant against the floor
/// measured in the same rounds.
/// The composed ops run before, on their own (each of their steps sweeps the caches with ~100 MB of temporaries,
/// which would slow whatever ran next).
/// </summary>
internal static class LossProfile
{
    private const int Rounds = 40;
    private const string Fused = "fused kernel, forward + backward", Reshaping = "fused + reshaping f(p)/f(p_old)", Tis = "fused + TIS weights";
    private const string Floor = "memory floor", FloorWithWeights = "memory floor + TIS weights";

    public static void Run(int b, int t)
    {
        var bench = new MixedPolicyLossBenchmark { Shape = (b, t) };
        bench.Setup();
        // In this order each timed call follows one that streamed the same inputs (the first follows the previous round's last).
        var variants = new (string Name, Func<double> Run)[]
        {
            (FloorWithWeights, () => Time(() => bench.MemoryFloorWithWeights())),
            (Fused, () => Time(() => bench.Fused())),
            (Reshaping, () => Time(() => bench.FusedReshaped())),
            (Tis, () => Time(() => bench.FusedTis())),
            ("fused kernel, forward only (no graph)", () => Time(() => bench.FusedForwardOnly())),
            ("  of a fused step: forward", () => bench.FusedInParts().Forward),
            ("  of a fused step: backward to .grad", () => bench.FusedInParts().Backward),
            (Floor, () => Time(() => bench.MemoryFloor())),
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
        double M(string name) => Median(times[Array.FindIndex(variants, v => v.Name == name)]);
        Console.WriteLine($"fused / floor (medians): {M(Fused) / M(Floor):F2}×   composed / fused: {Median(composed) / M(Fused):F1}×");
        Console.WriteLine($"reshaping / fused: {M(Reshaping) / M(Fused):F2}×   TIS / fused: {M(Tis) / M(Fused):F2}×");
        Console.WriteLine($"reshaping / floor: {M(Reshaping) / M(Floor):F2}×   TIS / floor with its weights: {M(Tis) / M(FloorWithWeights):F2}× (medians)");
    }

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static double Median(List<double> sorted) => (sorted[(sorted.Count - 1) / 2] + sorted[sorted.Count / 2]) / 2;
}
