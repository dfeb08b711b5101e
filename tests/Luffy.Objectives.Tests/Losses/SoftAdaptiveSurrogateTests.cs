namespace Luffy.Objectives.Tests.Losses;

public class SoftAdaptiveSurrogateTests
{
    [Theory]
    [InlineData("PositiveTemperature", 0.0)]
    [InlineData("PositiveTemperature", double.NaN)]
    [InlineData("NegativeTemperature", -1.0)]
    [InlineData("NegativeTemperature", double.PositiveInfinity)]
    public void Out_of_range_settings_are_rejected_when_set(string setting, double value)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => setting == "PositiveTemperature" ? new SoftAdaptiveSurrogate { PositiveTemperature = value } : new SoftAdaptiveSurrogate { NegativeTemperature = value });
        Assert.Equal(setting, ex.ParamName);
    }

    [Fact]
    public void At_ratio_one_the_gate_is_two_over_tau_and_its_slope_is_one()
    {
        // σ(0)·4/τ = 2/τ; ∂g/∂log p = 4·σ(1 − σ)·ρ = 1 at ρ = 1, whatever τ
        Tensor logp = tensor(new[,] { { -0.7, -0.7 } }, dtype: ScalarType.Float64).requires_grad_(true);
        OnPolicyTerms terms = new SoftAdaptiveSurrogate { PositiveTemperature = 2, NegativeTemperature = 4 }.Compute(new OnPolicyContext
        {
            LogProbs = logp, OldLogProbs = logp.detach().clone(), Advantages = tensor(new[,] { { 1.0, -1.0 } }, dtype: ScalarType.Float64),
            OnPolicyMask = ones(1, 2, dtype: ScalarType.Bool), ResponseMask = ones(1, 2, dtype: ScalarType.Bool),
        });
        Assert.Equal(new[] { -1.0, 0.5 }, Tensors.ToArray(terms.TokenLoss));
        terms.TokenLoss.sum().backward();
        Assert.Equal(new[] { -1.0, 1.0 }, Tensors.ToArray(logp.grad!));
        Assert.Null(terms.Clipped);
    }
}
