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
