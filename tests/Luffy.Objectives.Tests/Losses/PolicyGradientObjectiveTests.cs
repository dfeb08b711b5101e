namespace Luffy.Objectives.Tests.Losses;

public class PolicyGradientObjectiveTests
{
    [Fact]
    public void The_loss_is_minus_advantage_times_log_p()
    {
        Tensor logp = tensor(new[,] { { -0.5, -2.0 } }, dtype: ScalarType.Float64).requires_grad_(true);
        OnPolicyTerms terms = new PolicyGradientObjective().Compute(new OnPolicyContext
        {
            LogProbs = logp, OldLogProbs = zeros(1, 2, dtype: ScalarType.Float64), Advantages = tensor(new[,] { { 2.0, -1.0 } }, dtype: ScalarType.Float64),
            OnPolicyMask = ones(1, 2, dtype: ScalarType.Bool), ResponseMask = ones(1, 2, dtype: ScalarType.Bool), RolloutWeights = tensor(new[,] { { 1.0, 3.0 } }, dtype: ScalarType.Float64),
        });
        Assert.Equal(new[] { 1.0, -6.0 }, Tensors.ToArray(terms.TokenLoss));
        Assert.Equal("gpg", new PolicyGradientObjective().Name);
    }
}
