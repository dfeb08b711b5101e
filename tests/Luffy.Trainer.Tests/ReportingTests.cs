using Luffy.Trainer.Reporting;

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
    public void The_compare_report_writes_results_and_plots()
    {
        string folder = Path.Combine(Path.GetTempPath(), "luffy-report-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var basePoint = new Luffy.Trainer.Training.EvalPoint(0, 0.6, 0.0, new() { [2] = 1, [3] = 0.8, [4] = 0, [5] = 0 });
            var summaries = new List<RunSummary>();
            foreach (string method in CompareRunner.Methods)
            {
                for (int seed = 1; seed <= 2; seed++)
                {
                    var final = new Luffy.Trainer.Training.EvalPoint(10, 0.5 + 0.1 * seed, 0.01, new() { [2] = 1, [3] = 0.7, [4] = 0.1 * seed, [5] = 0 });
                    var steps = Enumerable.Range(1, 10).Select(s => new Luffy.Trainer.Training.StepRecord { Step = s, Mode = method, OnPolicyReward = 0.5, RolloutTokens = 100, RolloutTokensPerSecond = 1000, TrainTokens = 50, TrainTokensPerSecond = 500 }).ToList();
                    summaries.Add(new RunSummary(method, seed, basePoint, final, [basePoint, final], steps, false, TimeSpan.FromMinutes(1)));
                }
            }
            CompareRunner.Report(new TrainerOptions(), folder, summaries);
            string json = File.ReadAllText(Path.Combine(folder, "results.json"));
            Assert.Contains("\"in-distribution-base-unsolved-levels\"", json);
            Assert.Contains("| luffy |", File.ReadAllText(Path.Combine(folder, "results.md")));
            Assert.True(new FileInfo(Path.Combine(folder, "accuracy.png")).Length > 1000);
            Assert.True(new FileInfo(Path.Combine(folder, "reward.png")).Length > 1000);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Plots_are_valid_png_files()
    {
        string path = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".png");
        try
        {
            LinePlot.Save(path, [new LinePlot.Panel("accuracy", "step", "acc", [new LinePlot.Series("luffy", LinePlot.Palette[0], [(0, 0.1), (10, 0.5), (20, 0.9)])])]);
            byte[] bytes = File.ReadAllBytes(path);
            Assert.Equal(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }, bytes[..8]);
            Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
            Assert.Equal(560, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
