namespace Luffy.Objectives.Tests.Losses;

public class ClippedSurrogateTests
{
    [Theory]
    [InlineData("ClipLow", -0.1)]
    [InlineData("ClipLow", 1.0)]
    [InlineData("ClipHigh", -0.01)]
    [InlineData("ClipHigh", double.NaN)]
    [InlineData("DualClip", 1.0)]
    [InlineData("DualClip", double.PositiveInfinity)]
    public void Out_of_range_settings_are_rejected_when_set(string setting, double value)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => setting switch
        {
            "ClipLow" => new ClippedSurrogate { ClipLow = value },
            "ClipHigh" => new ClippedSurrogate { ClipHigh = value },
            _ => new ClippedSurrogate { DualClip = value },
        });
        Assert.Equal(setting, ex.ParamName);
    }

    [Fact]
    public void A_null_ratio_is_rejected() =>
        Assert.Equal("Ratio", Assert.Throws<ArgumentNullException>(() => new ClippedSurrogate { Ratio = null! }).ParamName);

    [Fact]
    public void Defaults_are_ppo_with_epsilon_0_2_and_the_plain_ratio()
    {
        var s = new ClippedSurrogate();
        Assert.True(s.Clip);
        Assert.Equal(0.2, s.ClipLow);
        Assert.Equal(0.2, s.ClipHigh);
        Assert.Null(s.DualClip);
        Assert.IsType<ExponentialRatio>(s.Ratio);
        Assert.False(ClippedSurrogate.Unclipped.Clip);
    }

    [Fact]
    public void It_runs_on_its_own_from_a_context()
    {
        // one token, A = 1, ratio e^0.5 > 1.2: clipped at 1.2 with zero gradient
        Tensor logp = tensor(new[,] { { -0.5 } }, dtype: ScalarType.Float64).requires_grad_(true);
        OnPolicyTerms terms = new ClippedSurrogate().Compute(new OnPolicyContext
        {
            LogProbs = logp, OldLogProbs = tensor(new[,] { { -1.0 } }, dtype: ScalarType.Float64), Advantages = ones(1, 1, dtype: ScalarType.Float64),
            OnPolicyMask = ones(1, 1, dtype: ScalarType.Bool), ResponseMask = ones(1, 1, dtype: ScalarType.Bool),
        });
        Assert.Equal(-1.2, Tensors.Scalar(terms.TokenLoss), 14);
        Assert.True(terms.Clipped!.item<bool>());
        terms.TokenLoss.sum().backward();
        Assert.Equal(0.0, Tensors.Scalar(logp.grad!));
    }

    [Fact]
    public void The_name_lists_the_settings() =>
        Assert.Equal("ppo-clip(0.2,0.28)+dual(3)[regularized-ratio(gamma=0.1)]", new ClippedSurrogate { ClipHigh = 0.28, DualClip = 3, Ratio = new RegularizedRatio() }.Name);
}
