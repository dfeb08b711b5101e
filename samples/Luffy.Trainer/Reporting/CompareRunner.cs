using System.Globalization;
using System.Text;
using System.Text.Json;
using Luffy.Trainer.Model;
using Luffy.Trainer.Training;
using MathNet.Numerics.Distributions;
using Spectre.Console;
using static TorchSharp.torch;

namespace Luffy.Trainer.Reporting;

/// <summary>
/// `--mode compare`: every method of <c>--methods</c> on the same budget (same prompts, traces and steps) over several
/// seeds; a table of each measure's mean and 95% Student-t interval, results.json and results.md, and PNG charts of the
/// curves with seed bands.
/// </summary>
public static class CompareRunner
{
    public sealed record Interval(double Mean, double Low, double High, int N);

    /// <summary>Mean and two-sided 95% Student-t interval (no interval for a single value; NaN values are left out).</summary>
    public static Interval Confidence(IReadOnlyList<double> values)
    {
        double[] finite = values.Where(double.IsFinite).ToArray();
        if (finite.Length == 0)
        {
            return new Interval(double.NaN, double.NaN, double.NaN, 0);
        }
        double mean = finite.Average();
        if (finite.Length < 2)
        {
            return new Interval(mean, mean, mean, finite.Length);
        }
        double sd = MathNet.Numerics.Statistics.Statistics.StandardDeviation(finite);
        double half = StudentT.InvCDF(0, 1, finite.Length - 1, 0.975) * sd / Math.Sqrt(finite.Length);
        return new Interval(mean, mean - half, mean + half, finite.Length);
    }

    /// <summary>
    /// The sweep <c>--sweep</c> names, checked against the compare's recipe, or null for <c>--sweep none</c>; read before the
    /// base model is loaded or pre-trained, so that a sweep of another recipe is refused before minutes of work.
    /// </summary>
    /// <exception cref="OptionException">The file is missing, is not a sweep, or was run under another recipe.</exception>
    public static SweepResult? LoadSweep(TrainerOptions options)
    {
        SweepResult? sweep = options.Sweep == "none" ? null : SweepResult.Load(options.Sweep);
        sweep?.EnsureSameRecipe(options, options.Sweep);
        return sweep;
    }

    /// <summary>Runs every method of <see cref="TrainerOptions.CompareMethods"/> × seed at <paramref name="sweep"/>'s chosen settings (<see cref="LoadSweep"/>) and writes the report.</summary>
    public static int Run(TrainerOptions options, SweepResult? sweep, ITrainingTask task, TinyTransformer baseModel, Device device, CancellationToken cancel)
    {
        string folder = Path.Combine(options.Output, "compare");
        Directory.CreateDirectory(folder);
        var settings = options.CompareMethods.ToDictionary(m => m.Name, m => sweep?.Apply(options, m.Name, options.Sweep) ?? options);
        var rates = settings.ToDictionary(p => p.Key, p => p.Value.LearningRate);
        AnsiConsole.MarkupLineInterpolated($"settings ({(sweep is null ? "--sweep none: every method at --learning-rate" : "chosen on the validation split by " + options.Sweep)}): {string.Join(", ", options.CompareMethods.Select(m => $"{m} lr {rates[m.Name]:G3}" + (m.UsesGamma ? $" gamma {settings[m.Name].Gamma:G3}" : "")))}");
        var summaries = new List<RunSummary>();
        for (int s = 0; s < options.Seeds; s++)
        {
            foreach (TrainingMethod method in options.CompareMethods)
            {
                var runOptions = settings[method.Name] with { Output = folder };
                RunSummary summary = SingleRun.Run(runOptions, method, options.Seed + s, task, baseModel.Copy(), device, cancel, progressUi: true, resumeRequired: false, reference: baseModel.Copy(), baseEvaluation: summaries.FirstOrDefault()?.Base);
                summaries.Add(summary);
                AnsiConsole.MarkupLineInterpolated($"{method} seed {summary.Seed}: accuracy {string.Join(", ", summary.Final.Accuracy.Select(p => $"{p.Key} {TrainerApp.Percent(p.Value)}"))} ({summary.Elapsed.TotalMinutes:F1} min)");
                if (summary.Cancelled)
                {
                    AnsiConsole.MarkupLine("[yellow]compare interrupted; rerun with --resume to continue[/]");
                    return 130;
                }
            }
        }
        Report(options, folder, summaries, sweep, rates);
        return 0;
    }

    /// <summary>The levels of the training set the base model solves less than 5% of.</summary>
    public static int[] HardLevels(TrainerOptions options, EvalPoint basePoint) =>
        [.. basePoint.ByLevel.Where(p => TrainerOptions.ParseLevels(options.TrainLevels, "train-levels").Contains(p.Key) && p.Value < 0.05).Select(p => p.Key).Order()];

    /// <summary>The greedy accuracy from which the base model counts as solving a level: forgetting is measured on those levels.</summary>
    public const double SolvedShare = 0.95;

    /// <summary>The levels of the training set the base model solves (at least <see cref="SolvedShare"/> greedy accuracy): what forgetting is measured on.</summary>
    public static int[] SolvedLevels(TrainerOptions options, EvalPoint basePoint) =>
        [.. basePoint.ByLevel.Where(p => TrainerOptions.ParseLevels(options.TrainLevels, "train-levels").Contains(p.Key) && p.Value >= SolvedShare).Select(p => p.Key).Order()];

    public static void Report(TrainerOptions options, string folder, IReadOnlyList<RunSummary> summaries, SweepResult? sweep = null, IReadOnlyDictionary<string, double>? rates = null)
    {
        EvalPoint basePoint = summaries[0].Base;
        int[] hardLevels = HardLevels(options, basePoint);
        int[] solvedLevels = SolvedLevels(options, basePoint);
        string hardName = $"levels the base cannot solve ({string.Join(',', hardLevels)})";
        double Hard(EvalPoint point) => hardLevels.Length == 0 ? double.NaN : hardLevels.Average(l => point.ByLevel.GetValueOrDefault(l, double.NaN));
        string keptName = $"levels the base solves ({string.Join(',', solvedLevels)})";
        double Kept(EvalPoint point) => solvedLevels.Length == 0 ? double.NaN : solvedLevels.Average(l => point.ByLevel.GetValueOrDefault(l, double.NaN));
        string[] splits = [.. basePoint.Accuracy.Keys];
        string[] measures = [.. basePoint.Measures.Keys];
        string[] methods = [.. summaries.Select(s => s.Mode).Distinct()];

        // one column per split, the hard levels after the primary split, then the measures
        var columns = new List<(string Name, Func<EvalPoint, double> Value, bool Percent)>();
        foreach (string split in splits)
        {
            columns.Add((split, p => p.Accuracy.GetValueOrDefault(split, double.NaN), true));
            if (split == splits[0])
            {
                columns.Add((hardName, Hard, true));
                columns.Add((keptName, Kept, true));
                columns.AddRange(solvedLevels.Select(l => ($"level {l}", (Func<EvalPoint, double>)(p => p.ByLevel.GetValueOrDefault(l, double.NaN)), true)));
            }
        }
        columns.AddRange(measures.Select(m => (m, (Func<EvalPoint, double>)(p => p.Measures.GetValueOrDefault(m, double.NaN)), TrainerApp.IsShare(m))));

        var table = new Table().Title(Markup.Escape("after training: mean [95% CI] over seeds")).AddColumn("method");
        foreach ((string name, _, _) in columns)
        {
            table.AddColumn(Markup.Escape(name));
        }
        var markdown = new StringBuilder();
        markdown.AppendLine("| method | learning rate | " + string.Join(" | ", columns.Select(c => c.Name)) + " | minutes per run |");
        markdown.AppendLine("|---|---:|" + string.Join("|", columns.Select(_ => "---")) + "|---:|");
        string[] baseCells = [.. columns.Select(c => TrainerApp.Number(c.Value(basePoint), c.Percent))];
        table.AddRow([.. new[] { "base model" }.Concat(baseCells)]);
        markdown.AppendLine("| base model | | " + string.Join(" | ", baseCells) + " | |");
        foreach (string method in methods)
        {
            RunSummary[] runs = [.. summaries.Where(s => s.Mode == method)];
            string[] cells = [.. columns.Select(c => Format(Confidence([.. runs.Select(r => c.Value(r.Final))]), c.Percent))];
            table.AddRow([.. new[] { method }.Concat(cells).Select(Markup.Escape)]);
            string rate = rates is not null && rates.TryGetValue(method, out double r) ? r.ToString("G3", CultureInfo.InvariantCulture) : options.LearningRate.ToString("G3", CultureInfo.InvariantCulture);
            markdown.AppendLine(CultureInfo.InvariantCulture, $"| {method} | {rate} | {string.Join(" | ", cells)} | {runs.Average(r => r.Elapsed.TotalMinutes):F1} |");
        }
        AnsiConsole.Write(table);
        File.WriteAllText(Path.Combine(folder, "results.md"), markdown.ToString());

        var results = new
        {
            settings = options,
            learningRates = rates,
            sweep = sweep is null ? null : new { source = options.Sweep, rule = sweep.Rule, chosen = sweep.Chosen, runs = sweep.Runs, settings = sweep.Settings },
            hardLevels,
            solvedLevels,
            @base = new { accuracy = basePoint.Accuracy, hard = Hard(basePoint), kept = Kept(basePoint), byLevel = basePoint.ByLevel, measures = basePoint.Measures },
            runs = summaries.Select(s => new
            {
                method = s.Mode,
                seed = s.Seed,
                minutes = s.Elapsed.TotalMinutes,
                learningRate = rates?.GetValueOrDefault(s.Mode, options.LearningRate) ?? options.LearningRate,
                accuracy = s.Final.Accuracy,
                hard = Hard(s.Final),
                kept = Kept(s.Final),
                byLevel = s.Final.ByLevel,
                measures = s.Final.Measures,
                rolloutTokensPerSecond = s.RolloutTokensPerSecond,
                trainTokensPerSecond = s.TrainTokensPerSecond,
            }).ToArray(),
            curves = summaries.Select(s => new
            {
                method = s.Mode,
                seed = s.Seed,
                evaluations = s.History.Select(h => new { step = h.Step, accuracy = h.Accuracy, hard = Hard(h), kept = Kept(h), byLevel = h.ByLevel, measures = h.Measures }),
                steps = s.Steps.Where(r => r.Step > 0).Select(r => new { step = r.Step, reward = r.OnPolicyReward, entropy = r.Entropy, clipFraction = r.ClipFraction, ppoKl = r.PpoKl, informativeGroups = r.InformativeGroups, klFromReference = r.KlFromReference }),
            }).ToArray(),
        };
        string resultsPath = Path.Combine(folder, "results.json");
        File.WriteAllText(resultsPath, JsonSerializer.Serialize(results, TrainerOptions.JsonOptions));

        Charts.Band Curve(string method, Func<EvalPoint, double> value) =>
            Charts.Of(method, summaries.Where(s => s.Mode == method).Select(s => (IReadOnlyList<(double, double)>)[.. s.History.Select(h => ((double)h.Step, value(h)))]));
        Charts.Band Training(string method, Func<StepRecord, double> value) =>
            Charts.Of(method, summaries.Where(s => s.Mode == method).Select(s => (IReadOnlyList<(double, double)>)Smooth([.. s.Steps.Where(r => r.Step > 0).Select(r => ((double)r.Step, value(r)))], 10)));
        var accuracyPanels = new List<Charts.Panel> { new("in-distribution", "step", "accuracy", [.. methods.Select(m => Curve(m, p => p.InDistribution))]) };
        if (hardLevels.Length > 0)
        {
            accuracyPanels.Add(new Charts.Panel(hardName, "step", "accuracy", [.. methods.Select(m => Curve(m, Hard))]));
        }
        if (solvedLevels.Length > 0)
        {
            accuracyPanels.Add(new Charts.Panel(keptName + ": forgetting", "step", "accuracy", [.. methods.Select(m => Curve(m, Kept))]));
        }
        accuracyPanels.AddRange(splits.Skip(1).Select(split => new Charts.Panel(split, "step", "accuracy", [.. methods.Select(m => Curve(m, p => p.Accuracy.GetValueOrDefault(split, double.NaN)))])));
        Charts.Save(Path.Combine(folder, "accuracy.png"), accuracyPanels);
        var written = new List<string> { resultsPath, Path.Combine(folder, "accuracy.png") };
        if (measures.Length > 0)
        {
            Charts.Save(Path.Combine(folder, "exploration.png"),
            [
                .. measures.Where(m => m.StartsWith("pass@", StringComparison.Ordinal) || m == "entropy")
                    .Select(m => new Charts.Panel(m == "entropy" ? "entropy of temperature-1 samples (hardest level)" : $"{m} at temperature 1 (hardest level)", "step", m == "entropy" ? "nats per token" : m, [.. methods.Select(method => Curve(method, p => p.Measures.GetValueOrDefault(m, double.NaN)))], m != "entropy")),
                new Charts.Panel("training entropy (rollout and trace tokens)", "step", "nats per token", [.. methods.Select(m => Training(m, r => r.Entropy))], false),
                .. measures.Where(m => m == Evaluator.KlFromBase).Select(m => new Charts.Panel("KL(model ‖ base) per token, held-out prompts", "step", "nats per token", [.. methods.Select(method => Curve(method, p => p.Measures.GetValueOrDefault(m, double.NaN)))], false)),
            ]);
            Charts.Save(Path.Combine(folder, "imitation.png"),
            [
                .. new[] { "process-validity", "superficial-imitation", "scratchpad-use" }.Where(measures.Contains).Select(m => new Charts.Panel(m, "step", "share", [.. methods.Select(method => Curve(method, p => p.Measures.GetValueOrDefault(m, double.NaN)))])),
                .. new[] { "trace-log-likelihood" }.Where(measures.Contains).Select(m => new Charts.Panel("log-likelihood of the solver's traces", "step", "nats per token", [.. methods.Select(method => Curve(method, p => p.Measures.GetValueOrDefault(m, double.NaN)))], false)),
            ]);
            written.Add(Path.Combine(folder, "exploration.png"));
            written.Add(Path.Combine(folder, "imitation.png"));
        }
        string[] rollouts = [.. methods.Where(m => TrainingMethod.All.FirstOrDefault(x => x.Name == m)?.Rollouts ?? true)];
        Charts.Save(Path.Combine(folder, "reward.png"), [new Charts.Panel("on-policy reward (10-step mean)", "step", "reward", [.. rollouts.Select(m => Training(m, r => r.OnPolicyReward))])]);
        written.Add(Path.Combine(folder, "reward.png"));
        AnsiConsole.MarkupLineInterpolated($"wrote {string.Join(", ", written)}");
    }

    /// <summary>Mean [95% interval], a share's interval clipped to [0, 1].</summary>
    private static string Format(Interval i, bool percent)
    {
        if (double.IsNaN(i.Mean))
        {
            return "-";
        }
        string F(double v) => TrainerApp.Number(v, percent);
        return i.N < 2 ? F(i.Mean) : percent
            ? $"{F(i.Mean)} [{F(Math.Max(0, i.Low))}, {F(Math.Min(1, i.High))}]"
            : $"{F(i.Mean)} [{F(i.Low)}, {F(i.High)}]";
    }

    private static (double X, double Y)[] Smooth((double X, double Y)[] points, int window) =>
        [.. points.Select((p, i) => (p.X, points.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Where(q => double.IsFinite(q.Y)).Select(q => q.Y).DefaultIfEmpty(double.NaN).Average()))];
}
