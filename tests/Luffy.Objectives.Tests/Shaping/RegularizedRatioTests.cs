namespace Luffy.Objectives.Tests.Shaping;

public class RegularizedRatioTests : RatioReshapingContractTests
{
    protected override IRatioReshaping Create() => new RegularizedRatio(0.1);

    [Fact]
    public void It_is_f_of_p_over_f_of_p_old()
    {
        const double p = 0.3, pOld = 0.6;
        static double f(double x) => x / (x + 0.5);
        Assert.Equal(f(p) / f(pOld), new RegularizedRatio(0.5).Evaluate(Math.Log(p), Math.Log(pOld)), 14);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(double.NaN)]
    public void A_non_positive_gamma_is_rejected(double gamma) =>
        Assert.Equal("gamma", Assert.Throws<ArgumentOutOfRangeException>(() => new RegularizedRatio(gamma)).ParamName);
}
