namespace Luffy.Objectives.Tests.Losses;

public class OnPolicyTermsTests
{
    [Fact]
    public void Token_losses_must_be_two_dimensional_floats() =>
        Assert.Contains("tokenLoss has shape [3]", Assert.Throws<ArgumentException>(() => new OnPolicyTerms(zeros(3))).Message);

    [Fact]
    public void Indicators_must_be_bool_of_the_same_shape()
    {
        Assert.Contains("clipped has dtype Float32", Assert.Throws<ArgumentException>(() => new OnPolicyTerms(zeros(2, 3), zeros(2, 3))).Message);
        Assert.Contains("clippedLower has shape [2, 2]", Assert.Throws<ArgumentException>(() => new OnPolicyTerms(zeros(2, 3), null, zeros(2, 2, dtype: ScalarType.Bool))).Message);
    }
}
