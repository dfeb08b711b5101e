using System.Globalization;
using Luffy.Trainer.Model;
using Luffy.Trainer.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace Luffy.Trainer;

/// <summary>What a finished (or interrupted) run reports.</summary>
public sealed record RunSummary(string Mode, int Seed, EvalPoint Base, EvalPoint Final, IReadOnlyList<EvalPoint> History, IReadOnlyList<StepRecord> Steps, bool Cancelled, TimeSpan Elapsed)
{
    public double RolloutTokensPerSecond => Steps.Sum(s => (double)s.RolloutTokens) / Math.Max(1e-9, Steps.Sum(s => s.RolloutTokensPerSecond > 0 ? s.RolloutTokens / s.RolloutTokensPerSecond : 0));

    public double TrainTokensPerSecond => Steps.Sum(s => (double)s.TrainTokens) / Math.Max(1e-9, Steps.Sum(s => s.TrainTokensPerSecond > 0 ? s.TrainTokens / s.TrainTokensPerSecond : 0));
}

/// <summary>Runs one mode and seed with progress, evaluation and checkpoints.</summary>
public static class SingleRun
{
    /// <summary>Trains <paramref name="model"/> (owned by the run, disposed at the end) on <paramref name="task"/>.</summary>
    public static RunSummary Run(TrainerOptions options, string mode, int seed, ITrainingTask task, CausalLanguageModel model, Device device, CancellationToken cancel, bool progressUi, Action<CausalLanguageModel, string>? export = null)
    {
        var started = DateTime.UtcNow;
        using var run = new TrainingRun(options, mode, seed, model, task, device) { Export = export };
        if (options.Resume && run.TryResume())
        {
            TrainerApp.Log($"{mode} seed {seed}: resumed from {run.Directory}/checkpoint at step {run.Step}");
        }
        else if (File.Exists(Path.Combine(run.Directory, "metrics.jsonl")))
        {
            File.Delete(Path.Combine(run.Directory, "metrics.jsonl"));
        }
        EvalPoint basePoint = run.History.FirstOrDefault(h => h.Step == 0) ?? run.Evaluate();
        if (run.Step == 0)
        {
            run.AppendEvaluation(basePoint);
        }

        bool cancelled = false;
        void Loop(Action<string, int, int>? report)
        {
            while (run.Step < options.Steps)
            {
                StepRecord record = run.RunStep();
                if (record.Skipped)
                {
                    TrainerApp.Log($"step {record.Step}: loss {record.Loss} is not finite; the step was skipped");
                }
                if (run.Step % options.EvalEvery == 0 || run.Step == options.Steps)
                {
                    EvalPoint point = run.Evaluate();
                    run.AppendEvaluation(point);
                }
                if (run.Step % options.CheckpointEvery == 0 || run.Step == options.Steps)
                {
                    run.SaveCheckpoint();
                }
                EvalPoint last = run.History.OrderBy(h => h.Step).Last();
                string reward = mode == "sft" ? "" : $"reward {TrainerApp.Percent(record.OnPolicyReward)} ";
                report?.Invoke($"{mode} seed {seed} step {run.Step}/{options.Steps} {reward}acc ID {TrainerApp.Percent(last.InDistribution)} OOD {TrainerApp.Percent(last.OutOfDistribution)}", run.Step, options.Steps);
                if (cancel.IsCancellationRequested)
                {
                    run.SaveCheckpoint();
                    cancelled = true;
                    TrainerApp.Log($"interrupted at step {run.Step}; checkpoint saved, continue with --resume");
                    return;
                }
            }
        }

        if (progressUi)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(context =>
                {
                    ProgressTask task = context.AddTask($"{mode} seed {seed}", maxValue: options.Steps);
                    task.Value = run.Step;
                    Loop((text, done, total) =>
                    {
                        task.Description = Markup.Escape(text);
                        task.Value = done;
                    });
                });
        }
        else
        {
            Loop(null);
        }
        EvalPoint final = run.History.OrderBy(h => h.Step).Last();
        return new RunSummary(mode, seed, basePoint, final, run.History.OrderBy(h => h.Step).ToList(), run.Steps.ToList(), cancelled, DateTime.UtcNow - started);
    }

    public static void Print(RunSummary s)
    {
        var table = new Table().AddColumns("", "in-distribution", "out-of-distribution");
        table.AddRow("base model", TrainerApp.Percent(s.Base.InDistribution), TrainerApp.Percent(s.Base.OutOfDistribution));
        table.AddRow($"{s.Mode} after step {s.Final.Step}", TrainerApp.Percent(s.Final.InDistribution), TrainerApp.Percent(s.Final.OutOfDistribution));
        AnsiConsole.Write(table);
        var levels = new Table().AddColumn("level (operands)").AddColumn("base").AddColumn(s.Mode);
        foreach (int level in s.Final.ByLevel.Keys.Order())
        {
            levels.AddRow(level.ToString(CultureInfo.InvariantCulture), TrainerApp.Percent(s.Base.ByLevel.GetValueOrDefault(level, double.NaN)), TrainerApp.Percent(s.Final.ByLevel[level]));
        }
        AnsiConsole.Write(levels);
        var examples = new Table().Title($"what the {s.Mode} model answers now (greedy)").AddColumns("level", "prompt", "answer", "");
        foreach (Example e in s.Final.Examples.Where((_, i) => i % 2 == 0))
        {
            examples.AddRow(e.Level.ToString(CultureInfo.InvariantCulture), Markup.Escape(e.Prompt), Markup.Escape(e.Response), e.Correct ? "[green]correct[/]" : "[red]wrong[/]");
        }
        AnsiConsole.Write(examples);
        AnsiConsole.MarkupLineInterpolated($"throughput: rollout {s.RolloutTokensPerSecond:F0} tokens/s, training {s.TrainTokensPerSecond:F0} tokens/s; {s.Elapsed.TotalMinutes:F1} min");
    }
}
