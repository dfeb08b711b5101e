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
        bool quick = args.Contains("--quick");
        string[] rest = args.Where(a => a != "--quick").ToArray();
        Job job = (quick ? Job.Dry.WithWarmupCount(1).WithIterationCount(3) : Job.Default.WithWarmupCount(2).WithIterationCount(8))
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithInvocationCount(1).WithUnrollFactor(1);
        IConfig config = DefaultConfig.Instance
            .AddJob(job)
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddExporter(MarkdownExporter.GitHub)
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        if (quick)
        {
            config = config.AddColumnProvider(BenchmarkDotNet.Columns.DefaultColumnProviders.Instance);
            Environment.SetEnvironmentVariable("LUFFY_BENCH_QUICK", "1");
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest.Length == 0 ? ["--filter", "*"] : rest, config);
    }

    /// <summary>Whether the quick suite is running (smaller shapes where the full ones would take minutes).</summary>
    public static bool Quick => Environment.GetEnvironmentVariable("LUFFY_BENCH_QUICK") == "1";
}
