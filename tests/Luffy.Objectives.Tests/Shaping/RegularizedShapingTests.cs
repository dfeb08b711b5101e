namespace Luffy.Objectives.Tests.Shaping;

public class RegularizedShapingTests : ShapingContractTests
{
    protected override IShapingFunction Create() => new RegularizedShaping();

    private static Arbitrary<double> LogProbs => Gen.Choose(0, 1_000_000).Select(i => -100.0 * i / 1_000_000).ToArbitrary();

    private static Arbitrary<double> Gammas => Gen.Choose(1, 10_000).Select(i => i / 1000.0).ToArbitrary();

    [Property(MaxTest = 200)]
    public Property Shaping_is_monotone_in_the_probability() =>
        Prop.ForAll(LogProbs, LogProbs, Gammas, (a, b, gamma) =>
        {
            var shaping = new RegularizedShaping(gamma);
            double lo = Math.Min(a, b), hi = Math.Max(a, b);
            Tensor values = shaping.Apply(tensor(new[] { lo, hi }));
            return values[0].item<double>() <= values[1].item<double>();
        });

    [Property(MaxTest = 200)]
    public Property Shaping_is_bounded_by_one_over_one_plus_gamma() =>
        Prop.ForAll(LogProbs, Gammas, (lp, gamma) =>
        {
            var shaping = new RegularizedShaping(gamma);
            double f = shaping.Apply(tensor(new[] { lp })).item<double>();
            return f >= 0 && f <= 1.0 / (1.0 + gamma) && shaping.UpperBound == 1.0 / (1.0 + gamma);
        });

    [Property(MaxTest = 200)]
    public Property Regularized_shaping_gradient_equals_gamma_p_over_p_plus_gamma_squared() =>
        Prop.ForAll(LogProbs, Gammas, (lp, gamma) =>
        {
            Tensor logp = tensor(new[] { lp }).requires_grad_(true);
            new RegularizedShaping(gamma).Apply(logp).sum().backward();
            double p = Math.Exp(lp);
            double expected = gamma * p / ((p + gamma) * (p + gamma));
            double actual = logp.grad![0].item<double>();
            return Math.Abs(actual - expected) <= 1e-12 * Math.Max(expected, 1e-300);
        });

    [Fact]
    public void Low_probability_tokens_keep_a_larger_gradient_than_with_plain_p()
    {
        // At p = 0.01 the regularized gradient γp/(p+γ)² = 0.0826 is 8x the identity's p = 0.01.
        double lp = Math.Log(0.01);
        double regularized = Derivative(new RegularizedShaping(), lp);
        double identity = Derivative(new IdentityShaping(), lp);
        Assert.Equal(0.1 * 0.01 / (0.11 * 0.11), regularized, 12);
        Assert.True(regularized > 8 * identity);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Gamma_must_be_positive_and_finite(double gamma)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new RegularizedShaping(gamma));
        Assert.Equal("Gamma", ex.ParamName);
    }

    [Fact]
    public void Default_gamma_is_one_tenth() => Assert.Equal(0.1, new RegularizedShaping().Gamma);

    /// <summary>∂f/∂log p by autograd, as the loss differentiates a shaping function.</summary>
    private static double Derivative(IShapingFunction shaping, double lp)
    {
        Tensor logp = tensor(new[] { lp }).requires_grad_();
        shaping.Apply(logp).sum().backward();
        return logp.grad!.item<double>();
    }

    [Fact]
    public void Shapings_are_records_validated_however_they_are_built()
    {
        Assert.Equal(new RegularizedShaping(0.3), new RegularizedShaping { Gamma = 0.3 });
        Assert.Equal(new RegularizedShaping(0.3), new RegularizedShaping() with { Gamma = 0.3 });
        Assert.Equal("Gamma", Assert.Throws<ArgumentOutOfRangeException>(() => new RegularizedShaping() with { Gamma = -1 }).ParamName);
        Assert.Equal(new IdentityShaping(), new IdentityShaping());
        Assert.NotEqual<IShapingFunction>(new PowerShaping(0.5), new SquareRootShaping()); // same values, other formula names
    }
}
