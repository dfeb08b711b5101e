using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Luffy.Objectives.Benchmarks;

/// <summary>
/// Runs the suites in-process: BenchmarkDotNet's generated projects would skip Directory.Build.targets and so the
/// GLIBCXX fix for TorchSharp's native library (see the README). `--quick` runs each benchmark a few times only.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length == 3 && args[0] == "--measure-peak")
        {
            PeakMemory.Measure(args[1], int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture));
            return;
        }
        if (args.Length >= 4 && args[0] == "--loss-steps")
        {
            LossSteps.Run(args[1], Enum.Parse<Luffy.Objectives.Losses.LossKernel>(args[2], ignoreCase: true), int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture), args.Length > 4 && args[4] == "metrics");
            return;
        }
        if (args.Length >= 1 && args[0] == "--profile-loss")
        {
            LossProfile.Run(
                args.Length >= 3 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 256,
                args.Length >= 3 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 4096);
            return;
        }
        bool quick = args.Contains("--quick");
        if (quick)
        {
            Environment.SetEnvironmentVariable("LUFFY_BENCH_QUICK", "1");
        }
        if (args.Contains("--peak-memory"))
        {
            PeakMemory.Report(Path.Combine("BenchmarkDotNet.Artifacts", "results"));
            return;
        }
        string[] rest = args.Where(a => a is not ("--quick" or "--steady")).ToArray();
        // Full runs: 20 measured single calls per benchmark, reported with their median next to the mean (a shared
        // 2-core machine has outliers that the mean keeps).
        // `--steady` instead lets BenchmarkDotNet time many back-to-back calls per iteration (steady state: caches and
        // worker threads warm from the previous call, which favours the memory floor most).
        bool steady = args.Contains("--steady");
        Job job = (quick ? Job.Dry.WithWarmupCount(1).WithIterationCount(3) : Job.Default.WithWarmupCount(3).WithIterationCount(20))
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithUnrollFactor(1);
        if (!steady)
        {
            job = job.WithInvocationCount(1);
        }
        IConfig config = DefaultConfig.Instance
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(StatisticColumn.Median)
            .AddExporter(MarkdownExporter.GitHub)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest.Length == 0 ? ["--filter", "*"] : rest, config);
    }

    /// <summary>Whether the quick suite is running (smaller shapes where the full ones would take minutes).</summary>
    public static bool Quick => Environment.GetEnvironmentVariable("LUFFY_BENCH_QUICK") == "1";
}
