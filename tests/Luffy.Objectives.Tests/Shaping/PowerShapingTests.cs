namespace Luffy.Objectives.Tests.Shaping;

public class PowerShapingTests : ShapingContractTests
{
    protected override IShapingFunction Create() => new PowerShaping(2.5);

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void Exponent_must_be_positive(double k) => Assert.Equal("Exponent", Assert.Throws<ArgumentOutOfRangeException>(() => new PowerShaping(k)).ParamName);
}
