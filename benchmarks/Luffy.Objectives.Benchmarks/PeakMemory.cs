using System.Diagnostics;
using System.Globalization;
using System.Text;
using static TorchSharp.torch;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// Peak resident memory of one forward + backward of each token-statistics path, each in a fresh process
/// (VmHWM − VmRSS after the inputs exist = the extra peak of the computation itself).
/// </summary>
public static class PeakMemory
{
    public static void Report(string resultsFolder)
    {
        var table = new StringBuilder();
        table.AppendLine("| V | path | extra peak memory (MiB) | naive logits + grad alone (MiB) |");
        table.AppendLine("|---:|---|---:|---:|");
        foreach (int v in TokenStatisticsBenchmark.Vocabularies)
        {
            foreach (string path in new[] { "naive", "chunked-logits", "chunked-hidden" })
            {
                string output = Child(path, v);
                double extra = double.Parse(output.Trim(), CultureInfo.InvariantCulture);
                double logitsMiB = 2.0 * TokenStatisticsBenchmark.B * TokenStatisticsBenchmark.T * v * 4 / (1 << 20);
                table.AppendLine(CultureInfo.InvariantCulture, $"| {v} | {path} | {extra:F1} | {logitsMiB:F1} |");
            }
        }
        Directory.CreateDirectory(resultsFolder);
        string file = Path.Combine(resultsFolder, "TokenStatistics-peak-memory.md");
        File.WriteAllText(file, $"B·T = {TokenStatisticsBenchmark.B}×{TokenStatisticsBenchmark.T}, H = {TokenStatisticsBenchmark.H}, chunk = {TokenStatisticsBenchmark.Chunk}, float32, forward + backward once.\n\n" + table);
        Console.WriteLine(File.ReadAllText(file));
    }

    private static string Child(string path, int v)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!, $"\"{typeof(PeakMemory).Assembly.Location}\" --measure-peak {path} {v}")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) != "dotnet")
        {
            info = new ProcessStartInfo(Environment.ProcessPath!, $"--measure-peak {path} {v}") { RedirectStandardOutput = true, UseShellExecute = false };
        }
        using Process process = Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
    }

    /// <summary>Runs in the child: prints the extra peak in MiB.</summary>
    public static void Measure(string path, int v)
    {
        manual_seed(0);
        Tensor hidden = randn(TokenStatisticsBenchmark.B, TokenStatisticsBenchmark.T, TokenStatisticsBenchmark.H).requires_grad_(true);
        Tensor weight = (randn(v, TokenStatisticsBenchmark.H) * 0.05).requires_grad_(true);
        Tensor ids = randint(v, new long[] { TokenStatisticsBenchmark.B, TokenStatisticsBenchmark.T });
        weight.grad?.zero_();
        long baseline = Status("VmRSS");
        ResetPeak();
        _ = path switch
        {
            "naive" => TokenStatisticsBenchmark.Naive(hidden, weight, ids),
            "chunked-logits" => TokenStatisticsBenchmark.ChunkedLogits(hidden, weight, ids),
            _ => TokenStatisticsBenchmark.ChunkedHidden(hidden, weight, ids),
        };
        long peak = Status("VmHWM");
        // the weight gradient (V × H) is part of any path's output; count only what the computation adds beyond it
        double gradientMiB = (double)v * TokenStatisticsBenchmark.H * 4 / (1 << 20);
        Console.WriteLine(((peak - baseline) / 1024.0 - gradientMiB).ToString("F1", CultureInfo.InvariantCulture));
    }

    private static void ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static long Status(string key) =>
        long.Parse(File.ReadAllLines("/proc/self/status").First(l => l.StartsWith(key + ":", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
