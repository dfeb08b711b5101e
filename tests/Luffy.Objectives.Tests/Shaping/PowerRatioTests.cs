namespace Luffy.Objectives.Tests.Shaping;

public class PowerRatioTests : RatioReshapingContractTests
{
    protected override IRatioReshaping Create() => new PowerRatio(0.3);

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    public void A_non_positive_exponent_is_rejected(double exponent) =>
        Assert.Equal("Exponent", Assert.Throws<ArgumentOutOfRangeException>(() => new PowerRatio(exponent)).ParamName);
}
