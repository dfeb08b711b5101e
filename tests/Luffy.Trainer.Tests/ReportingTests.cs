using Luffy.Trainer.Reporting;
using Luffy.Trainer.Training;

namespace Luffy.Trainer.Tests;

public class ReportingTests
{
    [Fact]
    public void Confidence_interval_uses_the_student_t_quantile()
    {
        CompareRunner.Interval i = CompareRunner.Confidence([0.5, 0.6, 0.7]);
        // mean 0.6, sd 0.1, t(0.975, 2) = 4.302652729911275
        Assert.Equal(0.6, i.Mean, 12);
        Assert.Equal(0.6 - 4.302652729911275 * 0.1 / Math.Sqrt(3), i.Low, 9);
        Assert.Equal(0.6 + 4.302652729911275 * 0.1 / Math.Sqrt(3), i.High, 9);
    }

    [Fact]
    public void Confidence_of_one_value_is_that_value_and_nan_values_are_left_out()
    {
        CompareRunner.Interval i = CompareRunner.Confidence([0.4, double.NaN]);
        Assert.Equal((0.4, 0.4, 0.4, 1), (i.Mean, i.Low, i.High, i.N));
    }

    private static EvalPoint Point(int step, double id, double hard, double validity) => new(step,
        new() { ["in-distribution"] = id, ["ood-operands"] = id / 2, ["ood-length"] = 0.01 },
        new() { [2] = 1, [3] = 0.8, [4] = hard, [5] = 0, [6] = 0 },
        new() { ["process-validity"] = validity, ["superficial-imitation"] = 0.1, ["pass@8"] = hard * 2, ["entropy"] = 0.5, ["trace-log-likelihood"] = -0.3 });

    [Fact]
    public void The_compare_report_writes_results_tables_and_charts()
    {
        string folder = Path.Combine(Path.GetTempPath(), "luffy-report-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            EvalPoint basePoint = Point(0, 0.6, 0.0, 0.9);
            var summaries = new List<RunSummary>();
            foreach (TrainingMethod method in TrainingMethod.All)
            {
                for (int seed = 1; seed <= 2; seed++)
                {
                    EvalPoint final = Point(10, 0.5 + 0.1 * seed, 0.1 * seed, 0.8);
                    var steps = Enumerable.Range(1, 10).Select(s => new StepRecord { Step = s, Mode = method.Name, OnPolicyReward = 0.5, Entropy = 0.4, RolloutTokens = 100, RolloutTokensPerSecond = 1000, TrainTokens = 50, TrainTokensPerSecond = 500 }).ToList();
                    summaries.Add(new RunSummary(method.Name, seed, basePoint, final, [basePoint, final], steps, false, TimeSpan.FromMinutes(1), "level (operands)"));
                }
            }
            var rates = TrainingMethod.All.ToDictionary(m => m.Name, m => m == TrainingMethod.Grpo ? 3e-5 : 1e-4);
            var sweep = new SweepResult { Runs = [new SweepResult.Run("grpo", 3e-5, null, 1, 0.6, new() { [2] = 1.0 }, 0.6, 1)], Chosen = new() { ["grpo"] = new SweepResult.Choice(3e-5, null, 0.6, "the only one") } };
            CompareRunner.Report(new TrainerOptions(), folder, summaries, sweep, rates);
            string json = File.ReadAllText(Path.Combine(folder, "results.json"));
            Assert.Contains("\"hard-levels\"", json);
            Assert.Contains("\"solved-levels\"", json);
            Assert.Contains("\"the only one\"", json); // the sweep and its choices travel with the results
            Assert.Contains("\"learning-rate\": 3E-05", json);
            Assert.Contains("\"process-validity\"", json);
            string table = File.ReadAllText(Path.Combine(folder, "results.md"));
            foreach (TrainingMethod method in TrainingMethod.All)
            {
                Assert.Contains($"| {method.Name} |", table);
            }
            // level 4 is the one the base cannot solve; seeds 0.1 and 0.2 -> mean 15.0%
            Assert.Contains("levels the base cannot solve (4)", table);
            Assert.Contains("15.0% [", table);
            // level 2 (100% for the base and every run) is the one the base solves: forgetting is measured on it
            Assert.Contains("levels the base solves (2)", table);
            Assert.Contains("| grpo | 3E-05 |", table);
            foreach (string chart in new[] { "accuracy.png", "exploration.png", "imitation.png", "reward.png" })
            {
                byte[] bytes = File.ReadAllBytes(Path.Combine(folder, chart));
                Assert.Equal(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }, bytes[..8]); // PNG signature
                Assert.True(bytes.Length > 5000, $"{chart}: {bytes.Length} bytes");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Charts_render_headless_with_the_requested_size()
    {
        string path = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".png");
        try
        {
            Charts.Band band = Charts.Of("luffy", [[(0, 0.1), (10, 0.5)], [(0, 0.3), (10, 0.7)]]);
            Assert.Equal([0.2, 0.6], band.Mean.Select(v => Math.Round(v, 12)));
            Assert.Equal([0.1, 0.5], band.Low);
            Assert.Equal([0.3, 0.7], band.High);
            Charts.Save(path, [new Charts.Panel("accuracy", "step", "accuracy", [band]), new Charts.Panel("entropy", "step", "nats", [band], Percent: false)]);
            byte[] bytes = File.ReadAllBytes(path);
            Assert.Equal(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }, bytes[..8]);
            Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
            Assert.Equal(2 * 560, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
            Assert.Equal(420, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_sweep_chooses_each_method_by_mean_validation_accuracy_and_a_tie_goes_to_the_smaller_rate()
    {
        static SweepResult.Run Run(string method, double rate, int seed, double validation, double? gamma = null) => new(method, rate, gamma, seed, validation, [], 1.0 - validation, 1); // test accuracy opposite: never read
        SweepResult.Run[] runs =
        [
            Run("luffy", 1e-4, 1, 0.70), Run("luffy", 1e-4, 2, 0.74), Run("luffy", 3e-4, 1, 0.80), Run("luffy", 3e-4, 2, 0.60),
            Run("grpo", 3e-5, 1, 0.66), Run("grpo", 1e-4, 1, 0.66), Run("grpo", 3e-4, 1, 0.40),
            Run("shaped", 1e-4, 1, 0.70, 0.1), Run("shaped", 1e-4, 1, 0.70, 0.01), Run("shaped", 3e-5, 1, 0.75, 0.01), Run("shaped", 3e-5, 1, 0.60, 0.1),
        ];
        Dictionary<string, SweepResult.Choice> chosen = SweepResult.Choose(runs);
        Assert.Equal(1e-4, chosen["luffy"].LearningRate); // mean 0.72 beats 0.70
        Assert.Equal(0.72, chosen["luffy"].Validation, 12);
        Assert.Equal(3e-5, chosen["grpo"].LearningRate);  // 0.66 twice: the smaller rate
        Assert.Contains("lr 3e-05: 66.0%", chosen["grpo"].Why, StringComparison.OrdinalIgnoreCase);
        Assert.Null(chosen["grpo"].Gamma);
        Assert.Equal((3e-5, 0.01), (chosen["shaped"].LearningRate, chosen["shaped"].Gamma!.Value)); // the best of four (rate, gamma) settings
        var options = new TrainerOptions { LearningRate = 1, Gamma = 0.5 };
        var sweep = new SweepResult { Chosen = chosen };
        Assert.Equal((3e-5, 0.01), (sweep.Apply(options, "shaped", "x").LearningRate, sweep.Apply(options, "shaped", "x").Gamma));
        Assert.Equal((3e-5, 0.5), (sweep.Apply(options, "grpo", "x").LearningRate, sweep.Apply(options, "grpo", "x").Gamma)); // no gamma: the option's stays
    }

    [Fact]
    public void A_sweep_names_every_recipe_option_a_compare_changes_and_refuses_it()
    {
        var sweep = new SweepResult { Settings = new TrainerOptions() };
        // where, how often, what runs, and what the sweep chooses may differ; the recipe may not
        var sameRecipe = new TrainerOptions { Mode = "compare", Methods = "grpo", Seed = 5, Seeds = 1, LearningRate = 1, Gamma = 0.5, Output = "elsewhere", EvalEvery = 7, EvalPerLevel = 10, Tensorboard = false, Resume = true };
        Assert.Empty(sweep.RecipeDifferences(sameRecipe));
        sweep.EnsureSameRecipe(sameRecipe, "s.json");
        var other = sameRecipe with { Steps = 100, PpoEpochs = 1, ClipOnPolicy = false, Model = "some/model" };
        Assert.Equal(["--model unset (here: some/model)", "--steps 300 (here: 100)", "--clip-on-policy true (here: false)", "--ppo-epochs 2 (here: 1)"], sweep.RecipeDifferences(other));
        var ex = Assert.Throws<OptionException>(() => sweep.EnsureSameRecipe(other, "s.json"));
        Assert.Equal("sweep", ex.Option);
        Assert.Contains("--sweep s.json chose its settings under another recipe: --model unset (here: some/model), --steps 300 (here: 100)", ex.Message);
        Assert.Empty(new SweepResult().RecipeDifferences(other)); // a file without settings cannot be checked
    }

    [Fact]
    public void The_committed_sweep_was_run_under_the_trainers_defaults()
    {
        SweepResult committed = SweepResult.Load(TrainerOptions.DefaultSweep);
        Assert.NotNull(committed.Settings);
        Assert.Empty(committed.RecipeDifferences(new TrainerOptions()));
    }

    [Fact]
    public void A_sweep_round_trips_through_its_file_and_names_a_method_it_has_no_choice_for()
    {
        string path = Path.GetTempFileName();
        try
        {
            var sweep = new SweepResult { Runs = [new SweepResult.Run("luffy", 1e-4, 0.01, 1, 0.7, new() { [4] = 0.1 }, 0.7, 2.5)], Chosen = new() { ["luffy"] = new SweepResult.Choice(1e-4, 0.01, 0.7, "why") } };
            sweep.Save(path);
            SweepResult read = SweepResult.Load(path);
            Assert.Equal(new SweepResult.Choice(1e-4, 0.01, 0.7, "why"), read.For("luffy", path));
            Assert.Equal(0.1, read.Runs[0].ValidationByLevel[4]);
            var ex = Assert.Throws<OptionException>(() => read.For("grpo", path));
            Assert.Contains("grpo", ex.Message);
            File.WriteAllText(path, "not json");
            Assert.Throws<OptionException>(() => SweepResult.Load(path));
            Assert.Throws<OptionException>(() => SweepResult.Load(path + ".missing"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_main_jobs_defaults_are_the_setting_the_committed_sweep_chose_for_luffy_and_it_covers_every_method()
    {
        SweepResult sweep = SweepResult.Load(TrainerOptions.DefaultSweep); // results/sweep.json, copied next to the program
        var defaults = new TrainerOptions();
        SweepResult.Choice luffy = sweep.For("luffy", TrainerOptions.DefaultSweep);
        Assert.Equal(luffy.LearningRate, defaults.LearningRate);
        Assert.Equal(luffy.Gamma, defaults.Gamma);
        Assert.Equal(defaults.Steps, sweep.Settings!.Steps); // chosen for the budget the runs have
        Assert.Equal(defaults.LrSchedule, sweep.Settings.LrSchedule); // and the schedule
        Assert.Equal(BaseModel.Fingerprint(defaults), BaseModel.Fingerprint(sweep.Settings)); // from the shipped base
        Assert.All(TrainingMethod.All, m => sweep.For(m.Name, TrainerOptions.DefaultSweep));
        Assert.Equal(SweepResult.Choose(sweep.Runs), sweep.Chosen); // the file's choice is the rule applied to its runs
    }
}
