namespace Luffy.Objectives.Tests.Shaping;

public class LogShapingTests : ShapingContractTests
{
    protected override IShapingFunction Create() => new LogShaping(0.7);

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.PositiveInfinity)]
    public void Weight_must_be_positive(double w) => Assert.Equal("Weight", Assert.Throws<ArgumentOutOfRangeException>(() => new LogShaping(w)).ParamName);
}
