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
        Assert.Equal("Gamma", Assert.Throws<ArgumentOutOfRangeException>(() => new RegularizedRatio(gamma)).ParamName);

    [Fact]
    public void Ratios_are_records_validated_however_they_are_built()
    {
        Assert.Equal(new RegularizedRatio(0.3), new RegularizedRatio() with { Gamma = 0.3 });
        Assert.Equal("Gamma", Assert.Throws<ArgumentOutOfRangeException>(() => new RegularizedRatio() with { Gamma = 0 }).ParamName);
        Assert.Equal(new ExponentialRatio(), new ExponentialRatio());
        Assert.Equal(new ClippedSurrogate(), new ClippedSurrogate());
    }
}
