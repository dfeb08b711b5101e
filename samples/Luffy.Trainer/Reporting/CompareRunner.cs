using System.Globalization;
using System.Text.Json;
using Luffy.Trainer.Model;
using Luffy.Trainer.Training;
using MathNet.Numerics.Distributions;
using Spectre.Console;
using static TorchSharp.torch;

namespace Luffy.Trainer.Reporting;

/// <summary>
/// `--mode compare`: LUFFY, on-policy GRPO and SFT on the same budget over several seeds; a table of accuracy
/// (mean and 95% t-interval), results.json and PNG plots of reward and accuracy curves.
/// </summary>
public static class CompareRunner
{
    public static readonly string[] Methods = ["luffy", "grpo", "sft"];

    public sealed record Interval(double Mean, double Low, double High, int N);

    /// <summary>Mean and two-sided 95% Student-t interval (no interval for a single value).</summary>
    public static Interval Confidence(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        if (values.Count < 2)
        {
            return new Interval(mean, mean, mean, values.Count);
        }
        double sd = MathNet.Numerics.Statistics.Statistics.StandardDeviation(values);
        double half = StudentT.InvCDF(0, 1, values.Count - 1, 0.975) * sd / Math.Sqrt(values.Count);
        return new Interval(mean, mean - half, mean + half, values.Count);
    }

    public static int Run(TrainerOptions options, ITrainingTask task, TinyTransformer baseModel, Device device, CancellationToken cancel)
    {
        string folder = Path.Combine(options.Output, "compare");
        Directory.CreateDirectory(folder);
        var runOptions = options with { Output = folder };
        var summaries = new List<RunSummary>();
        for (int s = 0; s < options.Seeds; s++)
        {
            foreach (string method in Methods)
            {
                RunSummary summary = SingleRun.Run(runOptions, method, options.Seed + s, task, baseModel.Copy(), device, cancel, progressUi: true);
                summaries.Add(summary);
                AnsiConsole.MarkupLineInterpolated($"{method} seed {summary.Seed}: ID {TrainerApp.Percent(summary.Final.InDistribution)}, OOD {TrainerApp.Percent(summary.Final.OutOfDistribution)} ({summary.Elapsed.TotalMinutes:F1} min)");
                if (summary.Cancelled)
                {
                    AnsiConsole.MarkupLine("[yellow]compare interrupted; rerun with --resume to continue[/]");
                    return 130;
                }
            }
        }
        Report(options, folder, summaries);
        return 0;
    }

    public static void Report(TrainerOptions options, string folder, IReadOnlyList<RunSummary> summaries)
    {
        EvalPoint basePoint = summaries[0].Base;
        var hardLevels = basePoint.ByLevel.Where(p => TrainerOptions.ParseLevels(options.TrainLevels, "train-levels").Contains(p.Key) && p.Value < 0.05).Select(p => p.Key).Order().ToArray();
        double Hard(EvalPoint point) => hardLevels.Length == 0 ? double.NaN : hardLevels.Average(l => point.ByLevel.GetValueOrDefault(l));

        var table = new Table().Title(Markup.Escape("accuracy after training (mean [95% CI] over seeds)"))
            .AddColumns("method", "in-distribution", $"ID levels the base cannot solve ({string.Join(',', hardLevels)})", "out-of-distribution", "rollout tok/s", "train tok/s");
        table.AddRow("base model", TrainerApp.Percent(basePoint.InDistribution), TrainerApp.Percent(Hard(basePoint)), TrainerApp.Percent(basePoint.OutOfDistribution), "", "");
        var markdown = new System.Text.StringBuilder();
        markdown.AppendLine("| method | in-distribution | ID levels the base cannot solve | out-of-distribution | rollout tokens/s | training tokens/s |");
        markdown.AppendLine("|---|---|---|---|---:|---:|");
        markdown.AppendLine(CultureInfo.InvariantCulture, $"| base model | {TrainerApp.Percent(basePoint.InDistribution)} | {TrainerApp.Percent(Hard(basePoint))} | {TrainerApp.Percent(basePoint.OutOfDistribution)} | | |");
        var rows = new List<object>();
        foreach (string method in Methods)
        {
            RunSummary[] runs = summaries.Where(s => s.Mode == method).ToArray();
            if (runs.Length == 0)
            {
                continue;
            }
            Interval id = Confidence(runs.Select(r => r.Final.InDistribution).ToArray());
            Interval hard = Confidence(runs.Select(r => Hard(r.Final)).ToArray());
            Interval ood = Confidence(runs.Select(r => r.Final.OutOfDistribution).ToArray());
            table.AddRow(new[]
            {
                method, Format(id), Format(hard), Format(ood),
                method == "sft" ? "-" : runs.Average(r => r.RolloutTokensPerSecond).ToString("F0", CultureInfo.InvariantCulture),
                runs.Average(r => r.TrainTokensPerSecond).ToString("F0", CultureInfo.InvariantCulture),
            }.Select(Markup.Escape).ToArray());
            markdown.AppendLine(CultureInfo.InvariantCulture, $"| {method} | {Format(id)} | {Format(hard)} | {Format(ood)} | {(method == "sft" ? "-" : runs.Average(r => r.RolloutTokensPerSecond).ToString("F0", CultureInfo.InvariantCulture))} | {runs.Average(r => r.TrainTokensPerSecond).ToString("F0", CultureInfo.InvariantCulture)} |");
        }
        AnsiConsole.Write(table);
        File.WriteAllText(Path.Combine(folder, "results.md"), markdown.ToString());

        var results = new
        {
            settings = options,
            hardLevels,
            @base = new { inDistribution = basePoint.InDistribution, outOfDistribution = basePoint.OutOfDistribution, hard = Hard(basePoint), byLevel = basePoint.ByLevel },
            runs = summaries.SelectMany(s => new[]
            {
                new { method = s.Mode, seed = s.Seed, split = "in-distribution", accuracy = s.Final.InDistribution },
                new { method = s.Mode, seed = s.Seed, split = "in-distribution-base-unsolved-levels", accuracy = Hard(s.Final) },
                new { method = s.Mode, seed = s.Seed, split = "out-of-distribution", accuracy = s.Final.OutOfDistribution },
            }).ToArray(),
            byLevel = summaries.Select(s => new { method = s.Mode, seed = s.Seed, s.Final.ByLevel }).ToArray(),
            throughput = summaries.Select(s => new { method = s.Mode, seed = s.Seed, rolloutTokensPerSecond = s.RolloutTokensPerSecond, trainTokensPerSecond = s.TrainTokensPerSecond, minutes = s.Elapsed.TotalMinutes }).ToArray(),
            curves = summaries.Select(s => new { method = s.Mode, seed = s.Seed, evaluations = s.History }).ToArray(),
        };
        string resultsPath = Path.Combine(folder, "results.json");
        File.WriteAllText(resultsPath, JsonSerializer.Serialize(results, TrainerOptions.JsonOptions));

        var colors = Methods.Select((m, i) => (m, LinePlot.Palette[i])).ToDictionary(x => x.m, x => x.Item2);
        LinePlot.Series Mean(string method, Func<RunSummary, IEnumerable<(double X, double Y)>> points) =>
            new(method, colors[method], summaries.Where(s => s.Mode == method).SelectMany(points).GroupBy(p => p.X).OrderBy(g => g.Key).Select(g => (g.Key, g.Average(p => p.Y))).ToArray());
        var rewardSeries = Methods.Where(m => m != "sft").Select(m => Mean(m, s => Smooth(s.Steps.Select(r => ((double)r.Step, r.OnPolicyReward)).ToArray(), 10))).ToList();
        LinePlot.Save(Path.Combine(folder, "reward.png"), [new LinePlot.Panel("on-policy reward (mean over seeds)", "step", "reward", rewardSeries)]);
        LinePlot.Save(Path.Combine(folder, "accuracy.png"),
        [
            new LinePlot.Panel("in-distribution accuracy", "step", "accuracy", Methods.Select(m => Mean(m, s => s.History.Select(h => ((double)h.Step, h.InDistribution)))).ToList()),
            new LinePlot.Panel($"levels the base cannot solve ({string.Join(',', hardLevels)})", "step", "accuracy", Methods.Select(m => Mean(m, s => s.History.Select(h => ((double)h.Step, Hard(h))))).ToList()),
            new LinePlot.Panel("out-of-distribution accuracy", "step", "accuracy", Methods.Select(m => Mean(m, s => s.History.Select(h => ((double)h.Step, h.OutOfDistribution)))).ToList()),
        ]);
        AnsiConsole.MarkupLineInterpolated($"wrote {resultsPath}, {Path.Combine(folder, "reward.png")}, {Path.Combine(folder, "accuracy.png")}");
    }

    /// <summary>Mean [95% interval], the interval clipped to the possible range [0, 1].</summary>
    private static string Format(Interval i) => double.IsNaN(i.Mean) ? "-" : i.N < 2
        ? TrainerApp.Percent(i.Mean)
        : $"{TrainerApp.Percent(i.Mean)} [{TrainerApp.Percent(Math.Max(0, i.Low))}, {TrainerApp.Percent(Math.Min(1, i.High))}]";

    private static (double X, double Y)[] Smooth((double X, double Y)[] points, int window) =>
        points.Select((p, i) => (p.X, points.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Where(q => double.IsFinite(q.Y)).Select(q => q.Y).DefaultIfEmpty(0).Average())).ToArray();
}
