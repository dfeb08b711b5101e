namespace Luffy.Objectives.Tests.Losses;

public class GeometricMeanSurrogateTests
{
    [Theory]
    [InlineData("ClipLow", -0.1)]
    [InlineData("ClipLow", double.PositiveInfinity)]
    [InlineData("ClipHigh", -1)]
    [InlineData("ClipHigh", double.NaN)]
    public void Out_of_range_settings_are_rejected_when_set(string setting, double value)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => setting == "ClipLow" ? new GeometricMeanSurrogate { ClipLow = value } : new GeometricMeanSurrogate { ClipHigh = value });
        Assert.Equal(setting, ex.ParamName);
    }

    [Fact]
    public void Defaults_are_verls()
    {
        var o = new GeometricMeanSurrogate();
        Assert.Equal(0.2, o.ClipLow);
        Assert.Equal(0.2, o.ClipHigh);
        Assert.StartsWith("gmpo(", o.Name);
    }
}
