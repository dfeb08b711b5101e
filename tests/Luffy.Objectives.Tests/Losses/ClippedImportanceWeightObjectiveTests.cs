namespace Luffy.Objectives.Tests.Losses;

public class ClippedImportanceWeightObjectiveTests
{
    [Theory]
    [InlineData("ClipLow", -0.1)]
    [InlineData("ClipLow", 1.0)]
    [InlineData("ClipHigh", -1)]
    [InlineData("ClipHigh", double.NaN)]
    public void Out_of_range_settings_are_rejected_when_set(string setting, double value)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => setting == "ClipLow" ? new ClippedImportanceWeightObjective { ClipLow = value } : new ClippedImportanceWeightObjective { ClipHigh = value });
        Assert.Equal(setting, ex.ParamName);
    }

    [Fact]
    public void Defaults_are_verls()
    {
        var o = new ClippedImportanceWeightObjective();
        Assert.Equal(0.2, o.ClipLow);
        Assert.Equal(0.2, o.ClipHigh);
        Assert.StartsWith("cispo(", o.Name);
    }
}
