namespace Luffy.Objectives.Tests.Shaping;

public class RatioPlusLogRatioTests : RatioReshapingContractTests
{
    protected override IRatioReshaping Create() => new RatioPlusLogRatio(0.7);

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_non_finite_weight_is_rejected(double weight) =>
        Assert.Equal("Weight", Assert.Throws<ArgumentOutOfRangeException>(() => new RatioPlusLogRatio(weight)).ParamName);
}
