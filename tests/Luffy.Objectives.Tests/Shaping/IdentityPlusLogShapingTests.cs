namespace Luffy.Objectives.Tests.Shaping;

public class IdentityPlusLogShapingTests : ShapingContractTests
{
    protected override IShapingFunction Create() => new IdentityPlusLogShaping(0.3);

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    public void Weight_must_be_positive(double w) => Assert.Equal("Weight", Assert.Throws<ArgumentOutOfRangeException>(() => new IdentityPlusLogShaping(w)).ParamName);
}
