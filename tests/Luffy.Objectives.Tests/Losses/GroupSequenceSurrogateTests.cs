namespace Luffy.Objectives.Tests.Losses;

public class GroupSequenceSurrogateTests
{
    [Theory]
    [InlineData("ClipLow", -0.1)]
    [InlineData("ClipLow", 1.0)]
    [InlineData("ClipHigh", -1)]
    [InlineData("ClipHigh", double.NaN)]
    public void Out_of_range_settings_are_rejected_when_set(string setting, double value)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => setting == "ClipLow" ? new GroupSequenceSurrogate { ClipLow = value } : new GroupSequenceSurrogate { ClipHigh = value });
        Assert.Equal(setting, ex.ParamName);
    }

    [Fact]
    public void Defaults_are_verls()
    {
        var o = new GroupSequenceSurrogate();
        Assert.Equal(3e-4, o.ClipLow);
        Assert.Equal(4e-4, o.ClipHigh);
        Assert.StartsWith("gspo(", o.Name);
    }
}
