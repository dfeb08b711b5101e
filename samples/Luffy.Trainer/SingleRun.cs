using System.Globalization;
using Luffy.Trainer.Model;
using Luffy.Trainer.Training;
using Spectre.Console;
using static TorchSharp.torch;

namespace Luffy.Trainer;

/// <summary>Runs one method and seed with progress, evaluation, checkpoints and the run folder's lock.</summary>
public static class SingleRun
{
    /// <summary>
    /// Trains <paramref name="model"/> (owned by the run, disposed at the end) on <paramref name="task"/>. With
    /// <see cref="TrainerOptions.Resume"/> the run continues from its last complete checkpoint (an error when
    /// <paramref name="resumeRequired"/> and there is none); without it, a run folder that already holds a checkpoint is
    /// refused, so that nothing is overwritten.
    /// </summary>
    /// <remarks><paramref name="baseEvaluation"/>: the base model's evaluation when another run of the same task and base already made it (the evaluation is deterministic), instead of evaluating again.
    /// <paramref name="reference"/>: the frozen base model of the KL penalty (owned by the run), needed when <see cref="TrainerOptions.KlCoefficient"/> &gt; 0.</remarks>
    /// <exception cref="CheckpointException">The checkpoint to resume is missing, incomplete or corrupt, or one exists and --resume was not given.</exception>
    /// <exception cref="RunLockedException">Another trainer writes to the same run folder.</exception>
    /// <exception cref="OperationCanceledException">Cancelled before the first step (during the base model's evaluation).</exception>
    public static RunSummary Run(TrainerOptions options, TrainingMethod method, int seed, ITrainingTask task, CausalLanguageModel model, Device device, CancellationToken cancel, bool progressUi, Action<CausalLanguageModel, string>? export = null, bool resumeRequired = true, CausalLanguageModel? reference = null, EvalPoint? baseEvaluation = null)
    {
        var started = DateTime.UtcNow;
        using var run = new TrainingRun(options, method, seed, model, task, device, reference) { Export = export };
        using RunLock runLock = RunLock.Acquire(run.Directory);
        if (options.Resume)
        {
            if (run.TryResume())
            {
                TrainerApp.Log($"{method} seed {seed}: resumed from {Checkpoint.CommittedFolder(run.Directory)} at step {run.Step}");
            }
            else if (resumeRequired)
            {
                throw new CheckpointException(Path.Combine(run.Directory, Checkpoint.PointerFile), "is missing: there is no checkpoint to resume; start without --resume");
            }
            else
            {
                run.StartFresh();
            }
        }
        else if (Checkpoint.Committed(run.Directory) is not null)
        {
            throw new CheckpointException(Path.Combine(run.Directory, Checkpoint.PointerFile),
                $"commits a checkpoint of an earlier run; continue it with --resume, or pass another --output, or delete {run.Directory}");
        }
        else
        {
            run.StartFresh();
        }
        EvalPoint basePoint = run.History.FirstOrDefault(h => h.Step == 0) ?? run.AddEvaluation(baseEvaluation) ?? run.Evaluate(cancel);
        if (run.Step == 0)
        {
            run.Record(new StepRecord { Step = 0, Mode = method.Name, Seed = seed, Evaluation = basePoint.Flatten() });
        }

        bool cancelled = false;
        int savedAt = options.Resume ? run.Step : -1;
        void Loop(Action<string, int, int>? report)
        {
            while (run.Step < options.Steps && !cancel.IsCancellationRequested)
            {
                var stepClock = System.Diagnostics.Stopwatch.StartNew();
                StepRecord record = run.RunStep();
                if (record.Skipped)
                {
                    TrainerApp.Log($"step {record.Step}: loss {record.Loss} or gradient norm {record.GradNorm} is not finite; the update was skipped");
                }
                if (run.Step % options.EvalEvery == 0 || run.Step == options.Steps)
                {
                    record = record with { Evaluation = run.Evaluate().Flatten() };
                }
                run.Record(record with { Seconds = stepClock.Elapsed.TotalSeconds });
                if (run.Step % options.CheckpointEvery == 0 || run.Step == options.Steps)
                {
                    run.SaveCheckpoint();
                    savedAt = run.Step;
                }
                EvalPoint last = run.History.OrderBy(h => h.Step).Last();
                string reward = method.Rollouts ? $"reward {TrainerApp.Percent(record.OnPolicyReward)} " : "";
                report?.Invoke($"{method} seed {seed} step {run.Step}/{options.Steps} {reward}accuracy {TrainerApp.Percent(last.InDistribution)}", run.Step, options.Steps);
            }
            if (cancel.IsCancellationRequested && run.Step < options.Steps)
            {
                if (savedAt != run.Step)
                {
                    run.SaveCheckpoint();
                }
                cancelled = true;
                TrainerApp.Log($"interrupted at step {run.Step}; checkpoint saved, continue with --resume");
            }
        }

        if (progressUi)
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(context =>
                {
                    ProgressTask progress = context.AddTask($"{method} seed {seed}", maxValue: options.Steps);
                    progress.Value = run.Step;
                    Loop((text, done, total) =>
                    {
                        progress.Description = Markup.Escape(text);
                        progress.Value = done;
                    });
                });
        }
        else
        {
            Loop(null);
        }
        EvalPoint final = run.History.OrderBy(h => h.Step).Last();
        return new RunSummary(method.Name, seed, basePoint, final, run.History.OrderBy(h => h.Step).ToList(), run.Steps.ToList(), cancelled, Max(DateTime.UtcNow - started, TimeSpan.FromSeconds(run.Steps.Sum(r => r.Seconds))), task.LevelLabel);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    public static void Print(RunSummary s)
    {
        var table = new Table().AddColumn("");
        foreach (string split in s.Final.Accuracy.Keys)
        {
            table.AddColumn(split);
        }
        table.AddRow([.. new[] { "base model" }.Concat(s.Final.Accuracy.Keys.Select(k => TrainerApp.Percent(s.Base.Accuracy.GetValueOrDefault(k, double.NaN))))]);
        table.AddRow([.. new[] { $"{s.Mode} after step {s.Final.Step}" }.Concat(s.Final.Accuracy.Values.Select(TrainerApp.Percent))]);
        AnsiConsole.Write(table);
        if (s.LevelLabel is not null && s.Final.ByLevel.Count > 0)
        {
            var levels = new Table().AddColumn(s.LevelLabel).AddColumn("base").AddColumn(s.Mode);
            foreach (int level in s.Final.ByLevel.Keys.Order())
            {
                levels.AddRow(level.ToString(CultureInfo.InvariantCulture), TrainerApp.Percent(s.Base.ByLevel.GetValueOrDefault(level, double.NaN)), TrainerApp.Percent(s.Final.ByLevel[level]));
            }
            AnsiConsole.Write(levels);
            int[] solved = [.. s.Base.ByLevel.Where(p => p.Value >= Reporting.CompareRunner.SolvedShare && s.Final.ByLevel.ContainsKey(p.Key)).Select(p => p.Key).Order()];
            if (solved.Length > 0)
            {
                string kl = s.Final.Measures.TryGetValue(Evaluator.KlFromBase, out double value) ? $"; KL(model ‖ base) {value:F3} nats per token on held-out prompts" : "";
                AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"forgetting: the levels the base solves ({string.Join(", ", solved)}) at {string.Join(", ", solved.Select(l => TrainerApp.Percent(s.Final.ByLevel[l])))} after training (base {string.Join(", ", solved.Select(l => TrainerApp.Percent(s.Base.ByLevel[l])))}){kl}");
            }
        }
        if (s.Final.Measures.Count > 0)
        {
            var measures = new Table().AddColumn("measure").AddColumn("base").AddColumn(s.Mode);
            foreach ((string name, double value) in s.Final.Measures)
            {
                measures.AddRow(name, Format(name, s.Base.Measures.GetValueOrDefault(name, double.NaN)), Format(name, value));
            }
            AnsiConsole.Write(measures);
        }
        var examples = new Table().Title($"what the {s.Mode} model answers now (greedy)").AddColumns(s.LevelLabel is null ? "" : "level", "prompt", "answer", "");
        foreach (Example e in s.Final.Examples.Where((_, i) => i % 2 == 0))
        {
            examples.AddRow(s.LevelLabel is null ? "" : e.Level.ToString(CultureInfo.InvariantCulture), Markup.Escape(e.Prompt), Markup.Escape(e.Response), e.Correct ? "[green]correct[/]" : "[red]wrong[/]");
        }
        AnsiConsole.Write(examples);
        if (s.Steps.LastOrDefault(r => r.ExperienceBuckets is not null) is { } last)
        {
            // ExGRPO: what the buffer held and how much was replayed
            int started = s.Steps.FirstOrDefault(r => r.ReplayStarted)?.Step ?? 0;
            AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"experience: replay phase from step {(started == 0 ? "never" : (started + 1).ToString(CultureInfo.InvariantCulture))}; {s.Steps.Sum(r => r.ReplayedSamples)} members replayed over {s.Steps.Count(r => r.ReplayedSamples > 0)} steps; at the end {last.ExperienceQuestions} questions with {last.ExperienceTrajectories} trajectories (buckets k = 1..{last.ExperienceBuckets!.Length}: {string.Join(" ", last.ExperienceBuckets)}), {last.RetiredQuestions} questions retired");
        }
        AnsiConsole.MarkupLineInterpolated($"throughput: rollout {s.RolloutTokensPerSecond:F0} tokens/s, training {s.TrainTokensPerSecond:F0} tokens/s; {s.Elapsed.TotalMinutes:F1} min");
    }

    /// <summary>Shares as percentages, the log-likelihood and the entropy as numbers.</summary>
    public static string Format(string measure, double value) => TrainerApp.Number(value, TrainerApp.IsShare(measure));
}
