using System.Globalization;
using Luffy.Trainer.Model;
using Luffy.Trainer.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace Luffy.Trainer.Reporting;

/// <summary>
/// <c>--mode sweep</c>: every method of <c>--methods</c> at every learning rate of <c>--sweep-learning-rates</c> (and,
/// for the methods with policy shaping, every γ of <c>--sweep-gammas</c>) over
/// <c>--seeds</c> seeds, on the same budget as the comparison; each method's rate is chosen by validation accuracy only
/// (<see cref="SweepResult.SelectionRule"/>) and written to &lt;output&gt;/sweep/sweep.json, which <c>--mode compare
/// --sweep</c> reads.
/// </summary>
public static class SweepRunner
{
    /// <summary>Parses the grid of <see cref="TrainerOptions.SweepLearningRates"/>.</summary>
    /// <exception cref="OptionException">A value is not a finite positive number, or the list is empty or repeats a value.</exception>
    public static double[] Grid(string text, string option = "sweep-learning-rates")
    {
        string[] parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var rates = new List<double>();
        foreach (string part in parts)
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double rate) || !(rate > 0) || !double.IsFinite(rate))
            {
                throw new OptionException(option, text, $"a comma-separated list of numbers > 0 such as \"3e-5,1e-4,3e-4\" ({part} is not one)");
            }
            rates.Add(rate);
        }
        if (rates.Count == 0 || rates.Distinct().Count() != rates.Count)
        {
            throw new OptionException(option, text, "a non-empty comma-separated list of distinct numbers > 0");
        }
        return [.. rates.Order()];
    }

    /// <summary>Runs the sweep from copies of <paramref name="baseModel"/> (not disposed) and writes &lt;output&gt;/sweep/sweep.json; returns the exit code (130 when interrupted).</summary>
    /// <exception cref="OptionException">A grid of <paramref name="options"/> is not a list of distinct positive numbers.</exception>
    public static int Run(TrainerOptions options, ITrainingTask task, TinyTransformer baseModel, Device device, CancellationToken cancel)
    {
        string folder = Path.Combine(options.Output, "sweep");
        Directory.CreateDirectory(folder);
        double[] grid = Grid(options.SweepLearningRates);
        double[] gammas = Grid(options.SweepGammas, "sweep-gammas");
        var runs = new List<SweepResult.Run>();
        EvalPoint? basePoint = null;
        foreach (TrainingMethod method in options.CompareMethods)
        {
            foreach ((double rate, double? gamma) in grid.SelectMany(r => method.UsesGamma ? gammas.Select(g => (r, (double?)g)) : [(r, (double?)null)]))
            {
                for (int s = 0; s < options.Seeds; s++)
                {
                    // evaluations only at the start and the end: the selection reads the last step's validation accuracy
                    string name = "lr-" + rate.ToString("G3", CultureInfo.InvariantCulture) + (gamma is null ? "" : "-gamma-" + gamma.Value.ToString("G3", CultureInfo.InvariantCulture));
                    var runOptions = options with { Output = Path.Combine(folder, name), LearningRate = rate, Gamma = gamma ?? options.Gamma, EvalEvery = options.Steps };
                    RunSummary summary = SingleRun.Run(runOptions, method, options.Seed + s, task, baseModel.Copy(), device, cancel, progressUi: true, resumeRequired: false, reference: baseModel.Copy(), baseEvaluation: basePoint);
                    basePoint ??= summary.Base;
                    if (summary.Cancelled)
                    {
                        AnsiConsole.MarkupLine("[yellow]sweep interrupted; rerun with --resume to continue[/]");
                        return 130;
                    }
                    var validation = summary.Final.Accuracy.GetValueOrDefault(Evaluator.Validation, double.NaN);
                    var byLevel = summary.Final.LevelsOf(Evaluator.Validation);
                    runs.Add(new SweepResult.Run(method.Name, rate, gamma, summary.Seed, validation, byLevel, summary.Final.InDistribution, summary.Elapsed.TotalMinutes));
                    AnsiConsole.MarkupLineInterpolated($"{method} {name} seed {summary.Seed}: validation {TrainerApp.Percent(validation)} ({summary.Elapsed.TotalMinutes:F1} min)");
                }
            }
        }
        var result = new SweepResult { Settings = options, Runs = runs, Chosen = SweepResult.Choose(runs) };
        string path = Path.Combine(folder, "sweep.json");
        result.Save(path);
        var table = new Table().Title("chosen by validation accuracy").AddColumn("method").AddColumn("learning rate").AddColumn("gamma").AddColumn("validation").AddColumn("why");
        foreach ((string method, SweepResult.Choice choice) in result.Chosen)
        {
            table.AddRow(method, choice.LearningRate.ToString("G3", CultureInfo.InvariantCulture), choice.Gamma?.ToString("G3", CultureInfo.InvariantCulture) ?? "-", TrainerApp.Percent(choice.Validation), Markup.Escape(choice.Why));
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"wrote {path}; compare reads it with --sweep {path}");
        return 0;
    }
}
